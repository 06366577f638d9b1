;;; emacs_ghost_e2e.el --- ghost-text driver for tests/editors/test_emacs.py  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run as: emacs --batch -l emacs_ghost_e2e.el
;; with SUPERPOSE_EL, SUPERPOSE_CMD (JSON list), SUPERPOSE_FILE, SUPERPOSE_LINE (0-based),
;; SUPERPOSE_SETTINGS (JSON object), SUPERPOSE_RESULT (JSON output path),
;; SUPERPOSE_TIMEOUT (seconds for the model), SUPERPOSE_BACKEND and, optionally,
;; SUPERPOSE_OTHER_SERVER (JSON list: the user's own Python server for eglot).
;;
;; SUPERPOSE_BACKEND = own: eglot manages the buffer with SUPERPOSE_OTHER_SERVER (when
;; given) and `superpose-mode' talks to superpose-ls over its own connection next to it.
;; SUPERPOSE_BACKEND = eglot: superpose-ls is the buffer's eglot server
;; ((superpose-eglot-setup t)) and `superpose-mode' goes through eglot.
;; SUPERPOSE_BACKEND = lsp-mode: superpose-ls runs as an lsp-mode add-on client.
;;
;; Then it works as a user: goes to the end of the `    counter.' line, types, waits for the
;; ghost text (the overlay's text is recorded), cycles it, accepts a word, a line and the
;; whole draft with the keys of `superpose-ghost-map', types through it, switches it off
;; and types again; it writes what it saw as JSON.

;;; Code:

(require 'json)
(require 'cl-lib)

(defvar superpose-e2e--out nil "Alist written as the JSON result.")
(defvar superpose-e2e--messages nil "Messages shown while the driver ran.")

(defun superpose-e2e--put (key value)
  "Record VALUE under KEY in the result."
  (setq superpose-e2e--out (cons (cons key value) (assq-delete-all key superpose-e2e--out))))

(defun superpose-e2e--wait (seconds predicate)
  "Process events until PREDICATE is non-nil or SECONDS pass; return its value."
  (let ((deadline (+ (float-time) seconds)) value)
    (while (and (not (setq value (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    value))

(defun superpose-e2e--json (object)
  "OBJECT (plists, hash tables, vectors from jsonrpc or lsp-mode) as JSON-encodable data."
  (cond
   ((and (consp object) (keywordp (car object)))
    (cl-loop for (k v) on object by #'cddr
             collect (cons (substring (symbol-name k) 1) (superpose-e2e--json v))))
   ((hash-table-p object)
    (let (pairs)
      (maphash (lambda (k v) (push (cons (format "%s" k) (superpose-e2e--json v)) pairs)) object)
      (or pairs (make-hash-table))))
   ((vectorp object) (vconcat (mapcar #'superpose-e2e--json object)))
   (t object)))

(defun superpose-e2e--overlay ()
  "What the ghost overlay at point displays: (text . annotation), or nil."
  (let ((ov (seq-find (lambda (o) (overlay-get o 'superpose))
                      (overlays-in (line-beginning-position) (min (point-max) (1+ (line-end-position)))))))
    (when ov
      (let* ((shown (or (overlay-get ov 'after-string) (overlay-get ov 'display)))
             (text "") (annotation nil))
        (dotimes (i (length shown))
          (let ((face (get-text-property i 'face shown)) (char (string (aref shown i))))
            (if (eq face 'superpose-ghost-annotation-face)
                (setq annotation (concat (or annotation "") char))
              (setq text (concat text char)))))
        (list (cons 'text text) (cons 'annotation (or annotation nil))
              (cons 'start (1- (overlay-start ov))))))))

(defun superpose-e2e--line ()
  "The text of the current line."
  (buffer-substring-no-properties (line-beginning-position) (line-end-position)))

(defun superpose-e2e--keys (keys)
  "Run KEYS (a `kbd' string) as typed, through the command loop."
  (execute-kbd-macro (kbd keys)))

(defun superpose-e2e--feedback ()
  "The server's accept counters."
  (superpose-e2e--json (superpose--get (superpose--execute "superpose.status") :feedback)))

(defun superpose-e2e--connect (backend timeout)
  "Open the file and connect BACKEND; wait TIMEOUT seconds for the model."
  (pcase backend
    ("own"
     (let* ((other (getenv "SUPERPOSE_OTHER_SERVER"))
            (other (and other (not (string-empty-p other)) other)))
       (when other
         ;; the user's own Python server in eglot (registered as the user would)
         (require 'eglot)
         (add-to-list 'eglot-server-programs
                      (cons '(python-mode python-ts-mode)
                            (append (json-read-from-string other) nil))))
       (find-file (getenv "SUPERPOSE_FILE"))
       (when other
         (call-interactively #'eglot)
         (unless (superpose-e2e--wait 60 #'eglot-current-server)
           (error "eglot did not connect to the user's server"))))
     (superpose-mode 1))
    ("eglot"
     (require 'eglot)
     (superpose-eglot-setup t)
     (find-file (getenv "SUPERPOSE_FILE"))
     (call-interactively #'eglot)
     (unless (superpose-e2e--wait 60 #'eglot-current-server)
       (error "eglot did not connect"))
     (superpose-mode 1))
    ("lsp-mode"
     (require 'lsp-mode)
     (setq lsp-session-file (expand-file-name "lsp-session" temporary-file-directory)
           lsp-auto-guess-root t lsp-enable-file-watchers nil lsp-log-io nil
           lsp-enable-snippet nil lsp-restart 'ignore lsp-warn-no-matched-clients nil
           lsp-headerline-breadcrumb-enable nil lsp-modeline-code-actions-enable nil
           lsp-modeline-diagnostics-enable nil lsp-lens-enable nil
           lsp-diagnostics-provider :none lsp-completion-enable nil
           lsp-modeline-workspace-status-enable nil)
     (superpose-lsp-mode-setup)
     (find-file (getenv "SUPERPOSE_FILE"))
     (lsp)
     (unless (superpose-e2e--wait 60 #'superpose--lsp-workspace)
       (error "lsp-mode did not start superpose-ls"))
     (superpose-mode 1)))
  (superpose-e2e--put 'eglot_server
                      (if (and (fboundp 'eglot-current-server) (eglot-current-server))
                          (format "%S" (process-command
                                        (jsonrpc--process (eglot-current-server))))
                        nil))
  (let ((status (superpose-e2e--wait
                 timeout
                 (lambda ()
                   (let ((s (ignore-errors (superpose--execute "superpose.status"))))
                     (if (member (superpose--get s :state) '("ready" "error"))
                         s
                       (accept-process-output nil 0.3)
                       nil))))))
    (superpose-e2e--put 'status (superpose-e2e--json status))
    (unless (equal (superpose--get status :state) "ready")
      (error "model not ready: %S" status))))

(defun superpose-e2e--type-and-wait (keys)
  "Type KEYS at the end of the cursor line and wait for ghost text; return the overlay."
  (superpose-e2e--keys keys)
  (let ((start (1- (point))))
    (superpose-e2e--wait 60 (lambda ()
                              (let ((ov (superpose-e2e--overlay)))
                                (and ov (= (cdr (assq 'start ov)) start) ov))))))

(defun superpose-e2e--run ()
  "The steps of the ghost-text end-to-end test."
  (load (getenv "SUPERPOSE_EL") nil t)
  (setq superpose-server-command (append (json-read-from-string (getenv "SUPERPOSE_CMD")) nil))
  (setq superpose-settings
        (let ((json-object-type 'plist) (json-false :json-false))
          (json-read-from-string (getenv "SUPERPOSE_SETTINGS"))))
  (advice-add 'message :before
              (lambda (format-string &rest args)
                (when format-string
                  (push (apply #'format-message format-string args) superpose-e2e--messages))))
  (superpose-e2e--connect (getenv "SUPERPOSE_BACKEND")
                          (string-to-number (or (getenv "SUPERPOSE_TIMEOUT") "120")))
  (let ((line (string-to-number (getenv "SUPERPOSE_LINE")))
        (original (buffer-string)))
    (cl-flet ((reset ()
                (superpose-dismiss)
                (let ((inhibit-modification-hooks nil))
                  (erase-buffer)
                  (insert original))
                (goto-char (point-min))
                (forward-line line)
                (end-of-line)
                (setq superpose--tick (buffer-chars-modified-tick))))
      (reset)
      (superpose-e2e--put 'line_before (superpose-e2e--line))
      (superpose-e2e--put 'feedback_before (superpose-e2e--feedback))
      ;; 1. typing `i' after `counter.' shows ghost text
      (let ((first (superpose-e2e--type-and-wait "i")))
        (superpose-e2e--put 'first (or first nil))
        (superpose-e2e--put 'items (vconcat (mapcar (lambda (item) (plist-get item :ghost))
                                                   superpose--items)))
        (superpose-e2e--put 'mode_line_ready (superpose-mode-line))
        ;; 2. M-\\ asks for all k drafts (invoked); M-n shows the next, M-p the first again
        (let ((answers (plist-get superpose-ghost-stats :answers)))
          (superpose-e2e--keys "M-\\")
          (superpose-e2e--wait 60 (lambda () (> (plist-get superpose-ghost-stats :answers) answers))))
        (superpose-e2e--put 'suggested (superpose-e2e--overlay))
        (superpose-e2e--put 'suggested_items
                            (vconcat (mapcar (lambda (item) (plist-get item :ghost))
                                             superpose--items)))
        (when (> (length superpose--items) 1)
          (superpose-e2e--keys "M-n")
          (superpose-e2e--put 'second (superpose-e2e--overlay))
          (superpose-e2e--keys "M-p")
          (superpose-e2e--put 'back (superpose-e2e--overlay)))
        ;; 3. M-f accepts the next word, C-e the next line
        (superpose-e2e--put 'before_word (superpose-e2e--overlay))
        (superpose-e2e--keys "M-f")
        (superpose-e2e--put 'after_word (superpose-e2e--line))
        (superpose-e2e--put 'shown_after_word (or (superpose-e2e--overlay) nil))
        (when (superpose-ghost-text)
          (superpose-e2e--keys "C-e")
          (superpose-e2e--put 'after_line (superpose-e2e--line))))
      ;; 4. typing through: the next character of the ghost text keeps it, trimmed
      (reset)
      (let ((shown (superpose-e2e--type-and-wait "i")))
        (superpose-e2e--put 'typed_shown (or shown nil))
        (when shown
          (let ((requests (plist-get superpose-ghost-stats :requests))
                (next (substring (cdr (assq 'text shown)) 0 1)))
            (execute-kbd-macro next)
            (superpose-e2e--put 'through_shown (or (superpose-e2e--overlay) nil))
            (superpose-e2e--put 'through_requests
                                (- (plist-get superpose-ghost-stats :requests) requests))
            ;; 5. TAB accepts the whole draft
            (superpose-e2e--keys "TAB")
            (superpose-e2e--put 'after_full (superpose-e2e--line))
            (superpose-e2e--put 'shown_after_full (or (superpose-e2e--overlay) nil)))))
      ;; 6. switched off: typing sends nothing and shows nothing
      (reset)
      (superpose-toggle "off")
      (superpose-e2e--put 'mode_line_off (superpose-mode-line))
      (let ((requests (plist-get superpose-ghost-stats :requests)))
        (superpose-e2e--keys "i")
        (accept-process-output nil 0.2)
        (superpose-e2e--put 'requests_while_off
                            (- (plist-get superpose-ghost-stats :requests) requests))
        (superpose-e2e--put 'shown_while_off (or (superpose-e2e--overlay) nil)))
      (superpose-toggle "on")
      (superpose-e2e--put 'feedback_after (superpose-e2e--feedback))
      ;; 7. the commands: completion-at-point (eglot), superpose-drafts picking the first
      ;; draft, the monitor toggled twice, the status
      (reset)
      (superpose-e2e--put 'before (buffer-string))
      (when (equal (getenv "SUPERPOSE_BACKEND") "eglot")
        (superpose-e2e--put 'server_class
                            (symbol-name (eieio-object-class (eglot-current-server))))
        (let* ((capf (eglot-completion-at-point))
               (candidates (and capf (all-completions "" (nth 2 capf)))))
          (superpose-e2e--put 'completion
                              (vconcat (mapcar #'substring-no-properties candidates)))))
      (let ((completing-read-function
             (lambda (_prompt collection &rest _)
               (let ((all (all-completions "" collection)))
                 (superpose-e2e--put 'picker (vconcat all))
                 (car all)))))
        (superpose-drafts))
      (superpose-e2e--put 'chosen (superpose-e2e--json superpose-last-inserted))
      (superpose-e2e--put 'after (buffer-string))
      (superpose-toggle-monitor)
      (superpose-toggle-monitor)
      (superpose-status)
      (superpose-e2e--put 'eglot_server_after
                          (if (and (fboundp 'eglot-current-server) (eglot-current-server))
                              (format "%S" (process-command
                                            (jsonrpc--process (eglot-current-server))))
                            nil))
      (superpose-e2e--put 'own_connection (if (superpose--own-p) t :json-false))
      (superpose-e2e--put 'messages (vconcat (reverse superpose-e2e--messages))))))

(let ((ok (condition-case err
              (progn (superpose-e2e--run) t)
            (error (superpose-e2e--put 'error (error-message-string err))
                   (superpose-e2e--put 'messages (vconcat (reverse superpose-e2e--messages)))
                   nil))))
  (superpose-e2e--put 'ok (if ok t :json-false))
  (with-temp-file (getenv "SUPERPOSE_RESULT")
    (insert (json-encode superpose-e2e--out)))
  (ignore-errors (superpose-shutdown))
  (ignore-errors (let ((eglot-autoshutdown t)) (eglot-shutdown (eglot-current-server))))
  (kill-emacs 0))

;;; emacs_ghost_e2e.el ends here
