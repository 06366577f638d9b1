;;; superpose.el --- Emacs client recipes for the superpose-ls language server  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: languages, tools, completion
;; SPDX-License-Identifier: MIT

;;; Commentary:

;; superpose-ls is an offline code-completion language server that answers with
;; several drafts computed in one decoding pass.  This file wires it into
;; Emacs through either eglot (built into Emacs 29; the `elpa-eglot' package
;; on older Emacs) or lsp-mode, and adds commands that talk to the server:
;;
;;   M-x superpose-drafts                   pick one of the k drafts at point and insert it
;;   M-x superpose-toggle-monitor           monitor-guided decoding on/off
;;   M-x superpose-toggle-repetition-penalty
;;   M-x superpose-set-drafts               set k
;;   M-x superpose-status                   model, device, state, latency
;;   M-x superpose-reindex                  rebuild the workspace index
;;
;; eglot:
;;
;;   (require 'superpose)
;;   (superpose-eglot-setup)        ; registers superpose-ls for `superpose-major-modes'
;;   ;; then M-x eglot (or add `eglot-ensure' to python-mode-hook)
;;
;; lsp-mode (registered as an add-on client, next to e.g. pyright):
;;
;;   (require 'superpose)
;;   (with-eval-after-load 'lsp-mode (superpose-lsp-mode-setup))
;;   ;; then M-x lsp
;;
;; Completion arrives through `completion-at-point' (C-M-i, or company/corfu).
;; With lsp-mode >= 9.0.1, M-x lsp-inline-completion-mode shows the drafts as
;; ghost text (C-n / C-p cycle, C-<return> accepts).

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'url-util)

(defgroup superpose nil
  "Client for the superpose-ls completion server."
  :group 'tools
  :prefix "superpose-")

(defcustom superpose-server-command '("superpose-ls")
  "Command (program and arguments) that starts superpose-ls over stdio.
For a server started as `superpose-ls serve --tcp --port N' use
\(\"localhost\" N) with eglot."
  :type '(repeat string))

(defcustom superpose-settings '(:drafts 4)
  "Server settings sent as initializationOptions (DESIGN.md section 2).
A plist, e.g. (:drafts 4 :decoder \"superposed\" :monitor t
:repetitionPenalty t :maxNewTokens 48).  Use `:json-false' for false."
  :type 'plist)

(defcustom superpose-major-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode
                tsx-ts-mode)
  "Major modes that superpose-ls serves."
  :type '(repeat symbol))

(defcustom superpose-request-timeout 60
  "Seconds to wait for a `workspace/executeCommand' answer."
  :type 'number)

;;;; Plain data helpers (work on eglot plists and lsp-mode hash tables alike)

(defun superpose--get (object key)
  "Return KEY (a keyword) of the JSON OBJECT (plist or hash table), or nil."
  (cond
   ((hash-table-p object)
    (let ((name (substring (symbol-name key) 1)))
      (gethash name object (gethash key object))))
   ((and (listp object) (plist-member object key)) (plist-get object key))
   (t nil)))

(defun superpose--true-p (value)
  "Return non-nil when the JSON VALUE is true."
  (and value (not (eq value :json-false)) (not (eq value :false))))

(defun superpose--first-line (text)
  "Return the first non-blank line of TEXT (a marker for blank text)."
  (or (seq-find (lambda (line) (string-match-p "[^ \t]" line)) (split-string text "\n"))
      "⏎"))

(defun superpose--format-draft (draft index)
  "Return the completing-read candidate for DRAFT at 1-based INDEX."
  (let* ((text (superpose--get draft :text))
         (score (superpose--get draft :score))
         (lines (length (split-string text "\n"))))
    (format "%d. %s  [score %s%s]" index (superpose--first-line text)
            (if (numberp score) (format "%.2f" score) "n/a")
            (if (> lines 1) (format ", %d lines" lines) ""))))

(defun superpose--utf16-column ()
  "Return the UTF-16 code-unit column of point (what LSP calls character)."
  (let ((column 0))
    (dolist (char (string-to-list (buffer-substring-no-properties (line-beginning-position) (point))))
      (setq column (+ column (if (> char #xFFFF) 2 1))))
    column))

(defun superpose--position-to-point (position)
  "Return the buffer position of the LSP POSITION (0-based line, UTF-16 character)."
  (save-excursion
    (save-restriction
      (widen)
      (goto-char (point-min))
      (forward-line (superpose--get position :line))
      (let ((units (superpose--get position :character))
            (eol (line-end-position)))
        (while (and (> units 0) (< (point) eol))
          (setq units (- units (if (> (char-after) #xFFFF) 2 1)))
          (forward-char 1))
        (point)))))

(defun superpose--text-document ()
  "Return the TextDocumentIdentifier of the current buffer as the client sends it."
  (cond
   ((and (fboundp 'eglot-current-server) (eglot-current-server)
         (fboundp 'eglot--TextDocumentIdentifier))
    (eglot--TextDocumentIdentifier))
   ((and (bound-and-true-p lsp-mode) (fboundp 'lsp--text-document-identifier))
    (lsp--text-document-identifier))
   (t (list :uri (concat "file://" (url-hexify-string (file-truename buffer-file-name)
                                                      url-path-allowed-chars))))))

(defun superpose--drafts-arguments ()
  "Return the `superpose.drafts' arguments for point."
  (vector (list :textDocument (superpose--text-document)
                :position (list :line (1- (line-number-at-pos nil t))
                                :character (superpose--utf16-column)))))

;;;; Talking to the server through whichever client is active

(declare-function eglot-current-server "eglot")
(declare-function eglot--TextDocumentIdentifier "eglot")
(declare-function jsonrpc-request "jsonrpc")
(declare-function jsonrpc-notify "jsonrpc")
(declare-function lsp-request "lsp-mode")
(declare-function lsp-notify "lsp-mode")
(declare-function lsp--text-document-identifier "lsp-mode")
(defvar lsp-mode)

(defun superpose--execute (command &optional arguments)
  "Run the server COMMAND with ARGUMENTS (a vector) and return its result."
  (let ((params (list :command command :arguments (or arguments []))))
    (cond
     ((and (fboundp 'eglot-current-server) (eglot-current-server))
      (jsonrpc-request (eglot-current-server) :workspace/executeCommand params
                       :timeout superpose-request-timeout))
     ((and (bound-and-true-p lsp-mode) (fboundp 'lsp-request))
      (lsp-request "workspace/executeCommand" params))
     (t (user-error "superpose: no eglot or lsp-mode connection in this buffer")))))

(defun superpose--notify-settings ()
  "Send `superpose-settings' as workspace/didChangeConfiguration."
  (let ((params (list :settings (list :superpose superpose-settings))))
    (cond
     ((and (fboundp 'eglot-current-server) (eglot-current-server))
      (jsonrpc-notify (eglot-current-server) :workspace/didChangeConfiguration params))
     ((and (bound-and-true-p lsp-mode) (fboundp 'lsp-notify))
      (lsp-notify "workspace/didChangeConfiguration" params)))))

;;;; Commands

(defvar superpose-last-inserted nil
  "The draft most recently inserted by `superpose-drafts'.")

(defun superpose-insert-draft (draft &optional fallback-point)
  "Insert DRAFT (a superpose.drafts entry) at its range, or at FALLBACK-POINT."
  (let* ((range (superpose--get draft :range))
         (start (if range (superpose--position-to-point (superpose--get range :start))
                  (or fallback-point (point))))
         (end (if range (superpose--position-to-point (superpose--get range :end)) start)))
    (goto-char start)
    (delete-region start end)
    (insert (superpose--get draft :text))
    (setq superpose-last-inserted draft)))

(defun superpose-drafts ()
  "Ask for the drafts at point, pick one with `completing-read' and insert it."
  (interactive)
  (let* ((origin (point))
         (tick (buffer-chars-modified-tick))
         (result (superpose--execute "superpose.drafts" (superpose--drafts-arguments)))
         (drafts (append (superpose--get result :drafts) nil)))
    (if (null drafts)
        (message "superpose: no drafts (the model may still be loading; see M-x superpose-status)")
      (setq drafts (sort drafts (lambda (a b) (< (or (superpose--get a :rank) 0)
                                                 (or (superpose--get b :rank) 0)))))
      (let* ((candidates (seq-map-indexed (lambda (draft i)
                                            (cons (superpose--format-draft draft (1+ i)) draft))
                                          drafts))
             (choice (completing-read "Superpose draft: "
                                      (lambda (string pred action)
                                        (if (eq action 'metadata)
                                            '(metadata (display-sort-function . identity))
                                          (complete-with-action action candidates string pred)))
                                      nil t nil nil (caar candidates)))
             (draft (cdr (assoc choice candidates))))
        (cond
         ((null draft) (message "superpose: nothing chosen"))
         ((/= tick (buffer-chars-modified-tick))
          (message "superpose: the buffer changed; run superpose-drafts again"))
         (t
          (superpose-insert-draft draft origin)
          (when-let* ((id (superpose--get draft :id)))
            (ignore-errors (superpose--execute "superpose.accept" (vector id))))))))))

(defun superpose--toggle (command key label)
  "Run the toggle COMMAND and report the boolean KEY of its answer as LABEL."
  (let ((result (superpose--execute command)))
    (message "superpose: %s %s" label
             (if (superpose--true-p (superpose--get result key)) "on" "off"))))

(defun superpose-toggle-monitor ()
  "Toggle monitor-guided decoding on the server."
  (interactive)
  (superpose--toggle "superpose.toggleMonitor" :monitor "monitor-guided decoding"))

(defun superpose-toggle-repetition-penalty ()
  "Toggle the grammar-based repetition penalty on the server."
  (interactive)
  (superpose--toggle "superpose.toggleRepetitionPenalty" :repetitionPenalty
                     "repetition penalty"))

(defun superpose-set-drafts (k)
  "Set the number of drafts K on the server."
  (interactive "nNumber of drafts: ")
  (unless (and (integerp k) (> k 0))
    (user-error "superpose: k must be a whole number >= 1"))
  (let ((result (superpose--execute "superpose.setDrafts" (vector k))))
    (setq superpose-settings (plist-put (copy-sequence superpose-settings) :drafts k))
    (message "superpose: drafts = %s" (or (superpose--get result :drafts) k))))

(defun superpose--json-pairs (object)
  "Return the (NAME . VALUE) pairs of the JSON OBJECT (plist or hash table)."
  (let (pairs)
    (cond
     ((hash-table-p object)
      (maphash (lambda (k v) (push (cons (format "%s" k) v) pairs)) object))
     ((and (consp object) (keywordp (car object)))
      (cl-loop for (k v) on object by #'cddr
               do (push (cons (substring (symbol-name k) 1) v) pairs))))
    (nreverse pairs)))

(defun superpose-status-lines (status)
  "Return the lines describing the `superpose.status' answer STATUS.
Latency is either {p50, p95, ...} or, per request kind,
{invoked: {p50, ...}, ...}."
  (let ((last (superpose--get status :last_latency_ms))
        (parts nil))
    (dolist (pair (superpose--json-pairs (superpose--get status :latency_ms)))
      (cond
       ((and (numberp (cdr pair)) (not (equal (car pair) "count")))
        (push (format "%s %s ms" (car pair) (cdr pair)) parts))
       ((superpose--json-pairs (cdr pair))
        (dolist (inner (superpose--json-pairs (cdr pair)))
          (when (and (numberp (cdr inner)) (not (equal (car inner) "count")))
            (push (format "%s %s %s ms" (car pair) (car inner) (cdr inner)) parts))))))
    (delq nil
          (list (format "model: %s" (superpose--get status :model))
                (format "device: %s" (superpose--get status :device))
                (format "state: %s" (superpose--get status :state))
                (when (numberp last) (format "last completion: %d ms" (round last)))
                (when parts
                  (format "latency: %s" (string-join (sort parts #'string<) ", ")))))))

(defun superpose-status ()
  "Show the server's model, device, state and latency."
  (interactive)
  (let ((status (superpose--execute "superpose.status")))
    (message "superpose: %s" (string-join (superpose-status-lines status) " | "))
    status))

(defun superpose-reindex ()
  "Rebuild the server's workspace index."
  (interactive)
  (message "superpose: reindexed %S" (superpose--execute "superpose.reindex")))

(defun superpose-update-settings (&rest plist)
  "Merge PLIST into `superpose-settings' and send them to the server."
  (let ((settings (copy-sequence superpose-settings)))
    (cl-loop for (key value) on plist by #'cddr
             do (setq settings (plist-put settings key value)))
    (setq superpose-settings settings)
    (superpose--notify-settings)
    settings))

;;;; eglot recipe

(defvar eglot-server-programs)
(defvar eglot-workspace-configuration)

(defun superpose-eglot-contact ()
  "Return the `eglot-server-programs' contact for superpose-ls."
  (cons 'superpose-eglot-server superpose-server-command))

(with-eval-after-load 'eglot
  ;; A server class so that `eglot-initialization-options' can send
  ;; `superpose-settings' (works on eglot 1.x and on the eglot of Emacs 29+).
  ;; (defclass inside `with-eval-after-load' defines its predicates at load time,
  ;; which the byte-compiler cannot see.)
  (with-no-warnings
    (defclass superpose-eglot-server (eglot-lsp-server) ()
      :documentation "superpose-ls connection."))
  (cl-defmethod eglot-initialization-options ((_server superpose-eglot-server))
    superpose-settings))

(defun superpose-eglot-setup ()
  "Register superpose-ls with eglot for `superpose-major-modes'."
  (require 'eglot)
  (add-to-list 'eglot-server-programs
               (cons superpose-major-modes (superpose-eglot-contact)))
  ;; Answer `workspace/configuration' pulls for the `superpose' section too.
  (when (and (listp (default-value 'eglot-workspace-configuration))
             (not (functionp (default-value 'eglot-workspace-configuration))))
    (setq-default eglot-workspace-configuration
                  (plist-put (copy-sequence (default-value 'eglot-workspace-configuration))
                             :superpose superpose-settings))))

;;;; lsp-mode recipe

(declare-function lsp-register-client "lsp-mode")
(declare-function make-lsp-client "lsp-mode")
(declare-function lsp-stdio-connection "lsp-mode")
(declare-function lsp-activate-on "lsp-mode")

(defun superpose-lsp-mode-setup ()
  "Register superpose-ls with lsp-mode as an add-on client."
  (require 'lsp-mode)
  (lsp-register-client
   (make-lsp-client
    :new-connection (lsp-stdio-connection (lambda () superpose-server-command))
    :activation-fn (lsp-activate-on "python" "javascript" "typescript" "typescriptreact"
                                    "javascriptreact")
    :server-id 'superpose
    :add-on? t
    :priority -1
    :initialization-options (lambda () superpose-settings))))

(provide 'superpose)
;;; superpose.el ends here
