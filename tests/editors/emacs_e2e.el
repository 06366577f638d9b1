;;; emacs_e2e.el --- eglot end-to-end driver for tests/editors/test_emacs.py  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run as: emacs --batch -l emacs_e2e.el
;; with SUPERPOSE_EL (path of superpose.el), SUPERPOSE_CMD (JSON list), SUPERPOSE_FILE,
;; SUPERPOSE_LINE / SUPERPOSE_CHARACTER (0-based), SUPERPOSE_SETTINGS (JSON object),
;; SUPERPOSE_RESULT (JSON output path) and SUPERPOSE_TIMEOUT (seconds for the model).
;; Opens the file, connects eglot to the real superpose-ls through superpose.el, waits
;; for the model, asks `eglot-completion-at-point' for candidates, runs
;; `superpose-drafts' with completing-read picking the first draft, then the toggles
;; and status, and writes what it saw as JSON.

;;; Code:

(require 'json)
(require 'cl-lib)

(defvar superpose-e2e--out nil "Alist written as the JSON result.")
(defvar superpose-e2e--messages nil "Messages shown while the driver ran.")

(defun superpose-e2e--put (key value)
  "Record VALUE under KEY in the result."
  (setq superpose-e2e--out (cons (cons key value) (assq-delete-all key superpose-e2e--out))))

(defun superpose-e2e--write ()
  "Write the result file."
  (with-temp-file (getenv "SUPERPOSE_RESULT")
    (insert (json-encode superpose-e2e--out))))

(defun superpose-e2e--wait (seconds predicate)
  "Process events until PREDICATE is non-nil or SECONDS pass; return its value."
  (let ((deadline (+ (float-time) seconds)) value)
    (while (and (not (setq value (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    value))

(defun superpose-e2e--plist-to-alist (object)
  "Return OBJECT (nested plists / vectors from jsonrpc) as JSON-encodable data."
  (cond
   ((and (consp object) (keywordp (car object)))
    (cl-loop for (k v) on object by #'cddr
             collect (cons (substring (symbol-name k) 1) (superpose-e2e--plist-to-alist v))))
   ((vectorp object) (vconcat (mapcar #'superpose-e2e--plist-to-alist object)))
   ((eq object :json-false) :json-false)
   (t object)))

(defun superpose-e2e--run ()
  "The steps of the end-to-end test."
  (load (getenv "SUPERPOSE_EL") nil t)
  (require 'eglot)
  (setq superpose-server-command (append (json-read-from-string (getenv "SUPERPOSE_CMD")) nil))
  (setq superpose-settings
        (let ((json-object-type 'plist) (json-false :json-false))
          (json-read-from-string (getenv "SUPERPOSE_SETTINGS"))))
  (superpose-eglot-setup t)   ; superpose-ls replaces eglot's Python server here
  (advice-add 'message :before
              (lambda (format-string &rest args)
                (when format-string
                  (push (apply #'format-message format-string args) superpose-e2e--messages))))
  (find-file (getenv "SUPERPOSE_FILE"))
  (superpose-e2e--put 'major_mode (symbol-name major-mode))
  ;; 1. Connect eglot (the contact comes from superpose-eglot-setup).
  (let ((started (float-time)))
    (call-interactively #'eglot)
    (unless (superpose-e2e--wait 30 #'eglot-current-server)
      (error "eglot did not connect"))
    (superpose-e2e--put 'attach_s (- (float-time) started))
    (superpose-e2e--put 'server_class (symbol-name (eieio-object-class (eglot-current-server)))))
  ;; 2. Poll superpose.status until the model is ready.
  (let* ((started (float-time))
         (timeout (string-to-number (or (getenv "SUPERPOSE_TIMEOUT") "120")))
         (status (superpose-e2e--wait
                  timeout
                  (lambda ()
                    (let ((s (superpose--execute "superpose.status")))
                      (if (member (plist-get s :state) '("ready" "error"))
                          s
                        (sleep-for 0.3)
                        nil))))))
    (superpose-e2e--put 'status (superpose-e2e--plist-to-alist status))
    (superpose-e2e--put 'model_ready_s (- (float-time) started))
    (unless (equal (plist-get status :state) "ready")
      (error "model not ready: %S" status)))
  ;; 3. completion-at-point through eglot.
  (goto-char (point-min))
  (forward-line (string-to-number (getenv "SUPERPOSE_LINE")))
  (forward-char (string-to-number (getenv "SUPERPOSE_CHARACTER")))
  (superpose-e2e--put 'before (buffer-string))
  (let* ((started (float-time))
         (capf (eglot-completion-at-point))
         (candidates (and capf (all-completions "" (nth 2 capf)))))
    (superpose-e2e--put 'completion_s (- (float-time) started))
    (superpose-e2e--put 'completion (vconcat (mapcar #'substring-no-properties candidates))))
  ;; 4. superpose-drafts with completing-read picking the first candidate.
  (let ((started (float-time))
        (completing-read-function
         (lambda (prompt collection &rest _)
           (let ((all (all-completions "" collection)))
             (superpose-e2e--put 'picker (vconcat all))
             (superpose-e2e--put 'prompt prompt)
             (car all)))))
    (superpose-drafts)
    (superpose-e2e--put 'drafts_s (- (float-time) started)))
  (superpose-e2e--put 'chosen (superpose-e2e--plist-to-alist superpose-last-inserted))
  (superpose-e2e--put 'after (buffer-string))
  (superpose-e2e--put 'point_after (1- (point)))
  ;; 5. Toggle the monitor twice and show the status.
  (superpose-toggle-monitor)
  (superpose-toggle-monitor)
  (superpose-status)
  (superpose-e2e--put 'messages (vconcat (reverse superpose-e2e--messages))))

(let ((ok (condition-case err
              (progn (superpose-e2e--run) t)
            (error (superpose-e2e--put 'error (error-message-string err))
                   (superpose-e2e--put 'messages (vconcat (reverse superpose-e2e--messages)))
                   nil))))
  (superpose-e2e--put 'ok (if ok t :json-false))
  (superpose-e2e--write)
  (ignore-errors (let ((eglot-autoshutdown t)) (eglot-shutdown (eglot-current-server))))
  (kill-emacs 0))

;;; emacs_e2e.el ends here
