;;; superpose.el --- Ghost text and commands for the superpose-ls language server  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: languages, tools, completion
;; SPDX-License-Identifier: MIT

;;; Commentary:

;; superpose-ls is an offline code-completion language server that answers with
;; several drafts computed in one decoding pass.  This file shows its drafts as
;; ghost text while you type (`superpose-mode') and adds commands that talk to
;; the server:
;;
;;   M-x superpose-mode                     ghost text in this buffer (see below)
;;   M-x superpose-toggle                   ghost text on/off (C-u: on, off or manual)
;;   M-x superpose-snooze                   no automatic ghost text for a while
;;   M-x superpose-suggest                  ghost text at point now (also in manual mode)
;;   M-x superpose-drafts                   pick one of the k drafts at point and insert it
;;   M-x superpose-toggle-monitor           monitor-guided decoding on/off
;;   M-x superpose-toggle-repetition-penalty
;;   M-x superpose-set-drafts               set k
;;   M-x superpose-status                   model, device, state, latency, accepts
;;   M-x superpose-reindex                  rebuild the workspace index
;;
;; Ghost text (any Emacs >= 27, next to whatever else you use):
;;
;;   (require 'superpose)
;;   (add-hook 'python-mode-hook #'superpose-mode)
;;
;; While ghost text is shown: TAB accepts it, M-f the next word, C-e the next
;; line, M-n / M-p show the next / previous draft, C-g hides it
;; (`superpose-ghost-map').  `superpose-mode' talks to superpose-ls through
;;   - lsp-mode, when superpose-ls runs there as an add-on client
;;     (`superpose-lsp-mode-setup'), next to e.g. pyright;
;;   - eglot, when superpose-ls is the buffer's eglot server;
;;   - otherwise its own connection (one superpose-ls process for the Emacs
;;     session), so eglot users keep their Python server in eglot: eglot runs
;;     one server per buffer, and superpose-ls does not take that place.
;;
;; superpose-ls as the eglot server of a mode (replaces that mode's server, e.g.
;; pylsp, for completion-at-point too):
;;
;;   (superpose-eglot-setup t)
;;
;; lsp-mode (registered as an add-on client, next to e.g. pyright):
;;
;;   (with-eval-after-load 'lsp-mode (superpose-lsp-mode-setup))
;;
;; The shipped model is trained on Python only: the recipes switch on for
;; Python; add JavaScript/TypeScript modes to `superpose-major-modes' and
;; `superpose-lsp-languages' with a bigger model.

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'url-util)
(require 'jsonrpc)

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
:repetitionPenalty t :maxNewTokens 48 :mode \"manual\"
:disabledLanguages [\"markdown\"] :disabledGlobs [\"**/tests/**\"]).
Use `:json-false' for false and vectors for lists."
  :type 'plist)

(defcustom superpose-major-modes '(python-mode python-ts-mode)
  "Major modes `superpose-eglot-setup' registers superpose-ls for.
The shipped model knows Python; add e.g. `js-mode' or `typescript-ts-mode'
with a bigger model."
  :type '(repeat symbol))

(defcustom superpose-lsp-languages '("python")
  "Language ids `superpose-lsp-mode-setup' activates superpose-ls for."
  :type '(repeat string))

(defcustom superpose-delay 0.0
  "Seconds after a change before ghost text is asked for (0: at once).
The server can also debounce (the `debounceMs' setting)."
  :type 'number)

(defcustom superpose-slow-ms 1000
  "The mode line says \"slow\" when ghost text took longer than this."
  :type 'number)

(defcustom superpose-model-wait 120
  "Seconds an explicit request may wait for the model to load."
  :type 'number)

(defface superpose-ghost-face '((t :inherit shadow))
  "Face of ghost text.")

(defface superpose-ghost-annotation-face '((t :inherit shadow :slant italic))
  "Face of the \"(i/n)\" shown after ghost text when there are several drafts.")

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
(defvar lsp--cur-workspace)
(defvar superpose--connection)
(defvar superpose--server-state)
(defvar superpose-mode)

(defun superpose--execute (command &optional arguments)
  "Run the server COMMAND with ARGUMENTS (a vector) and return its result."
  (let ((result (superpose--execute-1 command arguments)))
    (when (equal command "superpose.status")   ; keep the mode line up to date
      (superpose--take-status result))
    result))

(defun superpose--execute-1 (command arguments)
  "Run the server COMMAND with ARGUMENTS through the buffer's connection."
  (let ((params (list :command command :arguments (or arguments []))))
    (cond
     ((superpose--lsp-workspace)
      (let ((lsp--cur-workspace (superpose--lsp-workspace)))
        (lsp-request "workspace/executeCommand" params)))
     ((superpose--eglot-server)
      (jsonrpc-request (superpose--eglot-server) :workspace/executeCommand params
                       :timeout superpose-request-timeout))
     ((bound-and-true-p superpose-mode)
      (superpose--own-wait)
      (superpose--own-open)
      (superpose--own-flush)
      (jsonrpc-request superpose--connection :workspace/executeCommand params
                       :timeout superpose-request-timeout))
     ((and (fboundp 'eglot-current-server) (eglot-current-server))
      (jsonrpc-request (eglot-current-server) :workspace/executeCommand params
                       :timeout superpose-request-timeout))
     ((and (bound-and-true-p lsp-mode) (fboundp 'lsp-request))
      (lsp-request "workspace/executeCommand" params))
     (t (user-error "superpose: no eglot or lsp-mode connection in this buffer")))))

(defun superpose--notify-settings ()
  "Send `superpose-settings' as workspace/didChangeConfiguration."
  (let ((params (list :settings (list :superpose (superpose--settings-object)))))
    (when (superpose--connected-p)
      (jsonrpc-notify superpose--connection :workspace/didChangeConfiguration params))
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

;;;; Ghost text: superpose-mode

(declare-function lsp-workspaces "lsp-mode")
(declare-function lsp-request-async "lsp-mode")
(declare-function lsp--workspace-client "lsp-mode")
(declare-function lsp--client-server-id "lsp-mode")
(declare-function eglot--signal-textDocument/didChange "eglot")
(declare-function jsonrpc--async-request-1 "jsonrpc")

(defvar superpose-ghost-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'superpose-accept)
    (define-key map (kbd "<tab>") #'superpose-accept)
    (define-key map (kbd "M-f") #'superpose-accept-word)
    (define-key map (kbd "C-e") #'superpose-accept-line)
    (define-key map (kbd "M-n") #'superpose-next)
    (define-key map (kbd "M-p") #'superpose-previous)
    (define-key map (kbd "C-g") #'superpose-dismiss)
    map)
  "Keys active while ghost text is shown (they do their usual job otherwise).")

(defvar superpose-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "M-\\") #'superpose-suggest)
    map)
  "Keys of `superpose-mode'.")

(defvar superpose--connection nil
  "The connection of `superpose-mode' to its own superpose-ls (one per session).")
(defvar superpose--server-state "stopped"
  "What the mode line says of the server: stopped, starting, loading, ready, error.")
(defvar superpose--controls '(:state "on")
  "The last `superpose.toggle' / `superpose.snooze' answer (or status controls).")
(defvar superpose--last-ms nil "Milliseconds the last ghost-text answer took.")
(defvar superpose--inflight 0 "Ghost-text requests in flight.")
(defvar superpose--status-timer nil)
(defvar superpose-ghost-stats (list :requests 0 :answers 0 :shown 0 :accepts 0 :partial 0)
  "Counters of ghost-text requests, answers, drafts shown and accepts.")

(defvar-local superpose--items nil "Drafts shown at point: plists (:ghost :overwrite :id).")
(defvar-local superpose--index 0)
(defvar-local superpose--anchor nil "Where the ghost text starts (a buffer position).")
(defvar-local superpose--before nil "Text of the anchor's line before the anchor.")
(defvar-local superpose--after nil "Text of the anchor's line after the anchor.")
(defvar-local superpose--overlay nil)
(defvar-local superpose--ghost-shown nil "Non-nil while ghost text is shown.")
(defvar-local superpose--request nil "The request in flight: (BACKEND ID SEQ).")
(defvar-local superpose--seq 0)
(defvar-local superpose--tick nil "`buffer-chars-modified-tick' after the last command.")
(defvar-local superpose--timer nil)
(defvar-local superpose--opened nil "Non-nil when the buffer is open on the own connection.")
(defvar-local superpose--version 0)
(defvar-local superpose--pending nil "Changes not yet sent to the own connection.")
(defvar-local superpose--change-start nil)

(defvar superpose--emulation-alist
  `((superpose--ghost-shown . ,superpose-ghost-map)))

(defun superpose--settings-object ()
  "`superpose-settings' as a JSON object (an empty plist would be null)."
  (or superpose-settings (make-hash-table)))

;;;;; Positions

(defun superpose--lsp-position (&optional pos)
  "The LSP position (0-based line, UTF-16 character) of POS (default point)."
  (save-excursion
    (when pos (goto-char pos))
    (list :line (1- (line-number-at-pos nil t)) :character (superpose--utf16-column))))

(defun superpose--uri ()
  "The file URI of the current buffer."
  (concat "file://" (url-hexify-string (file-truename (or buffer-file-name default-directory))
                                       url-path-allowed-chars)))

(defun superpose--language-id ()
  "The LSP language id of the current major mode (python-ts-mode -> python)."
  (let ((name (replace-regexp-in-string "\\(-ts\\)?-mode\\'" "" (symbol-name major-mode))))
    (pcase name
      ("js" "javascript") ("js2" "javascript") ("tsx" "typescriptreact")
      (_ name))))

;;;;; Backends: lsp-mode add-on, eglot, or the own connection

(defun superpose--lsp-workspace ()
  "The superpose-ls workspace of lsp-mode in this buffer, if any."
  (and (bound-and-true-p lsp-mode) (fboundp 'lsp-workspaces)
       (seq-find (lambda (ws)
                   (eq (lsp--client-server-id (lsp--workspace-client ws)) 'superpose))
                 (lsp-workspaces))))

(defun superpose--eglot-server ()
  "The buffer's eglot server when it is superpose-ls."
  (and (fboundp 'eglot-current-server)
       (let ((server (eglot-current-server)))
         (and server (object-of-class-p server 'superpose-eglot-server) server))))

(defun superpose--connected-p ()
  "Non-nil when the own connection is up and initialized."
  (and superpose--connection (jsonrpc-running-p superpose--connection)
       (not (member superpose--server-state '("stopped" "starting")))))

(defun superpose--own-p ()
  "Non-nil when this buffer talks to the own connection."
  (and superpose--opened (superpose--connected-p)))

(defun superpose--handle-request (_conn method params)
  "Answer the server's request METHOD with PARAMS."
  (pcase method
    ('workspace/configuration
     (vconcat (mapcar (lambda (_) (superpose--settings-object))
                      (superpose--get params :items))))
    (_ nil)))

(defun superpose--handle-notification (_conn method params)
  "Handle the server's notification METHOD with PARAMS."
  (pcase method
    ('window/showMessage (message "%s" (superpose--get params :message)))
    ('$/progress
     (let ((title (superpose--get (superpose--get params :value) :title)))
       (when (and title (string-match-p "loading model" title))
         (setq superpose--server-state "loading")
         (force-mode-line-update t))))
    (_ nil)))

(defun superpose--root-uri ()
  "The project root of the current buffer as a URI (or nil)."
  (let ((root (or (and (fboundp 'project-current) (project-current)
                       (fboundp 'project-root) (project-root (project-current)))
                  default-directory)))
    (and root (concat "file://" (url-hexify-string (directory-file-name (file-truename root))
                                                   url-path-allowed-chars)))))

(defun superpose--connect ()
  "Start the own superpose-ls connection (initialize is asynchronous)."
  (unless (and superpose--connection (jsonrpc-running-p superpose--connection))
    (setq superpose--server-state "starting")
    (let* ((command superpose-server-command)
           (buffer (current-buffer))
           (conn (make-instance
                  'jsonrpc-process-connection
                  :name "superpose-ls"
                  :process (lambda ()
                             (make-process
                              :name "superpose-ls" :command command
                              :connection-type 'pipe :coding 'utf-8-emacs-unix
                              :noquery t
                              :stderr (get-buffer-create "*superpose-ls stderr*")))
                  :request-dispatcher #'superpose--handle-request
                  :notification-dispatcher #'superpose--handle-notification
                  :on-shutdown (lambda (_conn)
                                 (setq superpose--server-state "stopped")
                                 (dolist (buffer (buffer-list))
                                   (with-current-buffer buffer (setq superpose--opened nil)))))))
      (setq superpose--connection conn)
      (jsonrpc-async-request
       conn :initialize
       (list :processId (emacs-pid)
             :rootUri (superpose--root-uri)
             :capabilities (list :window (list :workDoneProgress t)
                                 :workspace (list :configuration t))
             :initializationOptions (superpose--settings-object))
       :success-fn (lambda (_result)
                     (jsonrpc-notify conn :initialized (make-hash-table))
                     (setq superpose--server-state "loading")
                     (when (buffer-live-p buffer) (superpose--watch-status buffer)))
       :error-fn (lambda (err)
                   (setq superpose--server-state "error")
                   (message "superpose: initialize failed: %s" (superpose--get err :message)))
       :timeout 120))))

(defun superpose--own-wait ()
  "Connect if needed and wait until the own connection is initialized."
  (superpose--connect)
  (let ((deadline (+ (float-time) superpose-request-timeout)))
    (while (and (not (superpose--connected-p)) (jsonrpc-running-p superpose--connection)
                (< (float-time) deadline))
      (accept-process-output nil 0.05)))
  (unless (superpose--connected-p)
    (user-error "superpose: superpose-ls did not start (see *superpose-ls stderr*)")))

(defun superpose--own-open ()
  "Send didOpen for the current buffer on the own connection."
  (unless superpose--opened
    (setq superpose--version 1 superpose--pending nil superpose--opened t)
    (jsonrpc-notify superpose--connection :textDocument/didOpen
                    (list :textDocument
                          (list :uri (superpose--uri) :languageId (superpose--language-id)
                                :version superpose--version
                                :text (save-restriction
                                        (widen)
                                        (buffer-substring-no-properties (point-min)
                                                                        (point-max))))))))

(defun superpose--own-flush ()
  "Send the changes not yet sent (didChange) on the own connection."
  (when (and superpose--opened superpose--pending)
    (setq superpose--version (1+ superpose--version))
    (jsonrpc-notify superpose--connection :textDocument/didChange
                    (list :textDocument (list :uri (superpose--uri) :version superpose--version)
                          :contentChanges (vconcat (reverse superpose--pending))))
    (setq superpose--pending nil)))

(defun superpose--before-change (beg end)
  "Remember the LSP range of BEG..END before it changes."
  (when superpose--opened
    (setq superpose--change-start
          (list (superpose--lsp-position beg) (superpose--lsp-position end)))))

(defun superpose--after-change (beg end _length)
  "Queue the change of BEG..END for the own connection."
  (when (and superpose--opened superpose--change-start)
    (push (list :range (list :start (car superpose--change-start)
                             :end (cadr superpose--change-start))
                :text (buffer-substring-no-properties beg end))
          superpose--pending)
    (setq superpose--change-start nil)))

(defun superpose--own-close ()
  "Send didClose for the current buffer."
  (when (superpose--own-p)
    (jsonrpc-notify superpose--connection :textDocument/didClose
                    (list :textDocument (list :uri (superpose--uri)))))
  (setq superpose--opened nil superpose--pending nil))

(defun superpose--send (method params on-result)
  "Send the request METHOD with PARAMS through the buffer's backend.
ON-RESULT gets the result, or nil with an error as second argument.
Return (BACKEND ID) for cancelling, or nil when nothing could be sent."
  (let ((buffer (current-buffer))
        (ok (lambda (result) (funcall on-result result nil)))
        (fail (lambda (err) (funcall on-result nil (or err t)))))
    (cond
     ((superpose--lsp-workspace)
      (let ((lsp--cur-workspace (superpose--lsp-workspace)))
        (condition-case err   ; e.g. the server is still starting (capabilities unknown)
            (progn
              (lsp-request-async method params ok :mode 'detached :error-handler fail
                                 :cancel-token (intern (format "superpose-%s-%s" method
                                                               (buffer-name buffer))))
              (list 'lsp-mode nil))
          (error (funcall fail err) nil))))
     ((superpose--eglot-server)
      (let ((server (superpose--eglot-server)))
        (when (fboundp 'eglot--signal-textDocument/didChange)
          (eglot--signal-textDocument/didChange))
        (list server (car (jsonrpc--async-request-1 server (intern method) params
                                                    :success-fn ok :error-fn fail
                                                    :timeout superpose-model-wait)))))
     ((superpose--connected-p)
      (superpose--own-open)
      (superpose--own-flush)
      (list superpose--connection
            (car (jsonrpc--async-request-1 superpose--connection (intern method) params
                                           :success-fn ok :error-fn fail
                                           :timeout superpose-model-wait))))
     (t (superpose--connect) nil))))

(defun superpose--cancel ()
  "Cancel the buffer's ghost-text request in flight."
  (when superpose--request
    (pcase-let ((`(,backend ,id . ,_) superpose--request))
      (when (and id (cl-typep backend 'jsonrpc-connection) (jsonrpc-running-p backend))
        (jsonrpc-notify backend :$/cancelRequest (list :id id))))
    (setq superpose--request nil
          superpose--inflight (max 0 (1- superpose--inflight))))
  (setq superpose--seq (1+ superpose--seq)))

;;;;; Status and the mode line

(defun superpose--take-status (status)
  "Update the mode line from a `superpose.status' answer STATUS."
  (when-let* ((state (superpose--get status :state))) (setq superpose--server-state state))
  (when-let* ((controls (superpose--get status :controls)))
    (setq superpose--controls controls))
  (force-mode-line-update t))

(defun superpose--watch-status (buffer)
  "Poll `superpose.status' through BUFFER's backend until the model is ready."
  (when superpose--status-timer (cancel-timer superpose--status-timer))
  (let ((busy nil))
    (setq superpose--status-timer
          (run-with-timer
           0 0.5
           (lambda ()
             (cond
              ((not (buffer-live-p buffer))
               (cancel-timer superpose--status-timer)
               (setq superpose--status-timer nil))
              ((not busy)
               (setq busy t)
               (with-current-buffer buffer
                 (superpose--send
                  "workspace/executeCommand" (list :command "superpose.status" :arguments [])
                  (lambda (status _err)
                    (setq busy nil)
                    (when status (superpose--take-status status))
                    (when (and superpose--status-timer
                               (member superpose--server-state '("ready" "error")))
                      (cancel-timer superpose--status-timer)
                      (setq superpose--status-timer nil))))))))))))

(defun superpose-mode-line ()
  "The mode-line text of `superpose-mode'."
  (let ((controls (or (superpose--get superpose--controls :state) "on")))
    (cond
     ((and (not (superpose--own-p)) (not (superpose--lsp-workspace))
           (not (superpose--eglot-server))
           (member superpose--server-state '("stopped")))
      " SP")
     ((not (member superpose--server-state '("ready"))) (format " SP:%s" superpose--server-state))
     ((not (equal controls "on")) (format " SP:%s" controls))
     ((> superpose--inflight 0) " SP…")
     ((and superpose--last-ms (> superpose--last-ms superpose-slow-ms))
      (format " SP:slow %dms" superpose--last-ms))
     (superpose--last-ms (format " SP %dms" superpose--last-ms))
     (t " SP"))))

;;;;; Drafts at point

(defun superpose--items-from (result)
  "Ghost items at point from an inline-completion RESULT."
  (let* ((raw (if (vectorp result) result (superpose--get result :items)))
         (line-start (line-beginning-position))
         (line-end (line-end-position))
         items seen)
    (seq-doseq (entry raw)
      (let* ((text (superpose--get entry :insertText))
             (text (if (stringp text) text (superpose--get text :value)))
             (range (superpose--get entry :range))
             (start (if range (superpose--position-to-point (superpose--get range :start)) (point)))
             (end (if range (superpose--position-to-point (superpose--get range :end)) (point)))
             (command (superpose--get entry :command))
             (id (let ((args (superpose--get command :arguments)))
                   (and args (> (length args) 0) (elt args 0)))))
        (when (and (stringp text) (<= line-start start (point) end line-end))
          (let ((typed (buffer-substring-no-properties start (point))))
            (when (string-prefix-p typed text)
              (let ((ghost (substring text (length typed))))
                (unless (or (string-empty-p ghost) (member ghost seen))
                  (push ghost seen)
                  (push (list :ghost ghost :overwrite (- end (point)) :id id) items))))))))
    (nreverse items)))

(defun superpose--render ()
  "Draw the current draft as ghost text at `superpose--anchor'."
  (let* ((item (nth superpose--index superpose--items))
         (ghost (plist-get item :ghost))
         (count (length superpose--items))
         (text (concat (propertize ghost 'face 'superpose-ghost-face)
                       (if (> count 1)
                           (propertize (format " (%d/%d)" (1+ superpose--index) count)
                                       'face 'superpose-ghost-annotation-face)
                         "")))
         (end (min (point-max) (+ superpose--anchor (plist-get item :overwrite)))))
    (put-text-property 0 1 'cursor t text)
    (if superpose--overlay
        (move-overlay superpose--overlay superpose--anchor end)
      (setq superpose--overlay (make-overlay superpose--anchor end nil nil t))
      (overlay-put superpose--overlay 'priority 100)
      (overlay-put superpose--overlay 'superpose t))
    (if (> end superpose--anchor)
        (progn (overlay-put superpose--overlay 'after-string nil)
               (overlay-put superpose--overlay 'display text))
      (overlay-put superpose--overlay 'display nil)
      (overlay-put superpose--overlay 'after-string text))
    (setq superpose--ghost-shown t)
    (cl-incf (plist-get superpose-ghost-stats :shown))))

(defun superpose--show (items)
  "Show ITEMS as ghost text at point."
  (setq superpose--items items superpose--index 0 superpose--anchor (point)
        superpose--before (buffer-substring-no-properties (line-beginning-position) (point))
        superpose--after (buffer-substring-no-properties (point) (line-end-position)))
  (superpose--render))

(defun superpose-clear ()
  "Hide the ghost text (the drafts are forgotten)."
  (when superpose--overlay (delete-overlay superpose--overlay))
  (setq superpose--overlay nil superpose--items nil superpose--ghost-shown nil))

(defun superpose-ghost-text ()
  "The ghost text shown at point (without the \"(i/n)\" annotation), or nil."
  (when (and superpose--ghost-shown superpose--items)
    (plist-get (nth superpose--index superpose--items) :ghost)))

(defun superpose--automatic-allowed ()
  "Non-nil when ghost text may be asked for automatically here."
  (and superpose-mode (not buffer-read-only)
       (equal (or (superpose--get superpose--controls :state) "on") "on")
       (not (member (superpose--language-id)
                    (append (plist-get superpose-settings :disabledLanguages) nil)))))

(defun superpose--request (kind)
  "Ask for ghost text at point; KIND is `automatic' (typing) or `invoked'."
  (superpose--cancel)
  (let* ((seq superpose--seq)
         (buffer (current-buffer))
         (tick (buffer-chars-modified-tick))
         (pos (point))
         (started (float-time))
         (params (list :textDocument (list :uri (superpose--uri))
                       :position (superpose--lsp-position)
                       :context (list :triggerKind (if (eq kind 'invoked) 1 2))))
         (sent
          (superpose--send
           "textDocument/inlineCompletion" params
           (lambda (result err)
             (when (buffer-live-p buffer)
               (with-current-buffer buffer
                 (when (= seq superpose--seq)
                   (setq superpose--request nil
                         superpose--inflight (max 0 (1- superpose--inflight)))
                   (unless err
                     (setq superpose--last-ms (round (* 1000 (- (float-time) started))))
                     (cl-incf (plist-get superpose-ghost-stats :answers))
                     (when (and (= tick (buffer-chars-modified-tick)) (= pos (point)))
                       (let ((items (superpose--items-from result)))
                         (when items (superpose--show items)))))
                   (force-mode-line-update))))))))
    (cl-incf (plist-get superpose-ghost-stats :requests))
    (when sent
      (setq superpose--request (append sent (list seq))
            superpose--inflight (1+ superpose--inflight))
      (force-mode-line-update))
    sent))

(defun superpose--typed-through ()
  "Keep the drafts that continue what was typed since the anchor; non-nil if any."
  (when (and superpose--items superpose--anchor (> (point) superpose--anchor)
             (<= superpose--anchor (point-max)))
    (let ((typed (buffer-substring-no-properties superpose--anchor (point))))
      (when (and (equal (save-excursion
                          (goto-char superpose--anchor)
                          (buffer-substring-no-properties (line-beginning-position) (point)))
                        superpose--before)
                 (equal (buffer-substring-no-properties (point) (line-end-position))
                        superpose--after))
        (let* ((current (nth superpose--index superpose--items))
               (kept (seq-filter (lambda (item)
                                   (let ((ghost (plist-get item :ghost)))
                                     (and (> (length ghost) (length typed))
                                          (string-prefix-p typed ghost))))
                                 superpose--items)))
          (when kept
            (setq superpose--index (max 0 (or (seq-position kept current) 0))
                  superpose--items
                  (mapcar (lambda (item)
                            (plist-put (copy-sequence item) :ghost
                                       (substring (plist-get item :ghost) (length typed))))
                          kept)
                  superpose--anchor (point)
                  superpose--before (buffer-substring-no-properties (line-beginning-position)
                                                                    (point)))
            (superpose--render)
            t))))))

(defun superpose--post-command ()
  "After each command: keep, trim, hide or ask for ghost text."
  (let ((changed (not (eql superpose--tick (buffer-chars-modified-tick)))))
    (setq superpose--tick (buffer-chars-modified-tick))
    (unless (memq this-command '(superpose-accept superpose-accept-word superpose-accept-line
                                                  superpose-next superpose-previous
                                                  superpose-suggest))
      (unless (or (and (not changed) (or (null superpose--anchor) (eql (point) superpose--anchor)))
                  (and changed (superpose--typed-through)))
        (superpose--cancel)
        (superpose-clear)
        (when (and changed (superpose--automatic-allowed))
          (when superpose--timer (cancel-timer superpose--timer))
          (let ((buffer (current-buffer)))
            (setq superpose--timer
                  (run-with-timer superpose-delay nil
                                  (lambda ()
                                    (when (buffer-live-p buffer)
                                      (with-current-buffer buffer
                                        (setq superpose--timer nil)
                                        (when (eq buffer (window-buffer (selected-window)))
                                          (superpose--request 'automatic)))))))))))))

;;;;; Accepting

(defun superpose-word-part (text)
  "The next word of the ghost TEXT: blanks, punctuation, then an identifier."
  (let ((part (and (string-match "\\`[ \t\n]*[^[:alnum:]_ \t\n]*[[:alnum:]_]*" text)
                   (match-string 0 text))))
    (when (or (null part) (string-match-p "\\`[ \t\n]*\\'" part))
      (setq part (and (string-match "\\`[ \t\n]*.?" text) (match-string 0 text))))
    (if (or (null part) (string-empty-p part)) text part)))

(defun superpose-line-part (text)
  "The next line of the ghost TEXT (a leading line break and the line after it)."
  (cond ((string-match "\\`[^\n]+" text) (match-string 0 text))
        ((string-match "\\`\n[^\n]*" text) (match-string 0 text))
        (t text)))

(defun superpose--accept (kind)
  "Insert the current draft's KIND piece (`full', `word' or `line')."
  (let* ((item (nth superpose--index superpose--items))
         (ghost (plist-get item :ghost))
         (part (pcase kind
                 ('word (superpose-word-part ghost))
                 ('line (superpose-line-part ghost))
                 (_ ghost)))
         (rest (substring ghost (length part)))
         (lines (+ (cl-count ?\n part) (if (string-empty-p rest) 1 0)))
         (counts (list :chars (length part) :lines lines))
         (id (plist-get item :id)))
    (superpose--cancel)
    (goto-char superpose--anchor)
    (when (string-empty-p rest)
      (delete-region (point) (min (point-max) (+ (point) (plist-get item :overwrite)))))
    (insert part)
    (ignore-errors
      (if (and (string-empty-p rest) id)
          (superpose--send "workspace/executeCommand"
                           (list :command "superpose.accept" :arguments (vector id counts))
                           #'ignore)
        (superpose--send "workspace/executeCommand"
                         (list :command "superpose.accepted"
                               :arguments (vector (append counts (list :kind (symbol-name kind))
                                                          (and id (list :id id)))))
                         #'ignore)))
    (setq superpose--tick (buffer-chars-modified-tick))
    (if (string-empty-p rest)
        (progn (cl-incf (plist-get superpose-ghost-stats :accepts)) (superpose-clear))
      (cl-incf (plist-get superpose-ghost-stats :partial))
      (superpose--typed-through))))

(defun superpose-accept ()
  "Accept the whole draft shown as ghost text."
  (interactive)
  (when superpose--items (superpose--accept 'full)))

(defun superpose-accept-word ()
  "Accept the next word of the ghost text."
  (interactive)
  (when superpose--items (superpose--accept 'word)))

(defun superpose-accept-line ()
  "Accept the next line of the ghost text."
  (interactive)
  (when superpose--items (superpose--accept 'line)))

(defun superpose-next (&optional step)
  "Show the next draft (STEP drafts on; negative goes back)."
  (interactive)
  (when superpose--items
    (setq superpose--index (mod (+ superpose--index (or step 1)) (length superpose--items)))
    (superpose--render)))

(defun superpose-previous ()
  "Show the previous draft."
  (interactive)
  (superpose-next -1))

(defun superpose-dismiss ()
  "Hide the ghost text."
  (interactive)
  (superpose--cancel)
  (superpose-clear))

(defun superpose-suggest ()
  "Ask for ghost text at point now (also in manual mode or when snoozed)."
  (interactive)
  (superpose-clear)
  (superpose--request 'invoked))

;;;;; On/off

(defun superpose--controls-message (result)
  "Report the controls RESULT of a toggle or snooze."
  (setq superpose--controls result)
  (force-mode-line-update t)
  (let ((state (superpose--get result :state)))
    (message "superpose: ghost text %s%s" state
             (if (equal state "snoozed")
                 (format " for %d min" (ceiling (/ (or (superpose--get result :snoozedSeconds) 0)
                                                   60.0)))
               ""))))

(defun superpose-toggle (&optional target)
  "Ghost text on or off; with a prefix argument choose TARGET: on, off or manual.
Manual: ghost text only when asked for (`superpose-suggest')."
  (interactive
   (list (and current-prefix-arg
              (completing-read "Ghost text: " '("on" "off" "manual") nil t))))
  (superpose-dismiss)
  (superpose--controls-message
   (superpose--execute "superpose.toggle" (if target (vector target) []))))

(defun superpose-snooze (minutes)
  "No automatic ghost text for MINUTES (0 resumes)."
  (interactive (list (read-number "Snooze ghost text for minutes: " 15)))
  (superpose-dismiss)
  (superpose--controls-message (superpose--execute "superpose.snooze" (vector minutes))))

;;;;; The minor mode

;;;###autoload
(define-minor-mode superpose-mode
  "Ghost text from superpose-ls while you type.
\\{superpose-ghost-map}"
  :lighter (:eval (superpose-mode-line))
  :keymap superpose-mode-map
  (if superpose-mode
      (progn
        (add-to-list 'emulation-mode-map-alists 'superpose--emulation-alist)
        (add-hook 'post-command-hook #'superpose--post-command nil t)
        (add-hook 'before-change-functions #'superpose--before-change nil t)
        (add-hook 'after-change-functions #'superpose--after-change nil t)
        (add-hook 'kill-buffer-hook #'superpose--own-close nil t)
        (setq superpose--tick (buffer-chars-modified-tick))
        (if (or (superpose--lsp-workspace) (superpose--eglot-server))
            (progn (setq superpose--server-state "loading")
                   (superpose--watch-status (current-buffer)))
          (superpose--connect)))
    (remove-hook 'post-command-hook #'superpose--post-command t)
    (remove-hook 'before-change-functions #'superpose--before-change t)
    (remove-hook 'after-change-functions #'superpose--after-change t)
    (remove-hook 'kill-buffer-hook #'superpose--own-close t)
    (superpose-dismiss)
    (superpose--own-close)))

(defun superpose-shutdown ()
  "Stop the own superpose-ls connection."
  (interactive)
  (when superpose--connection
    (ignore-errors (jsonrpc-shutdown superpose--connection))
    (setq superpose--connection nil superpose--server-state "stopped")))

;;;; eglot recipe

(defvar eglot-server-programs)
(defvar eglot-workspace-configuration)

(defun superpose--eglot-entry-for (mode)
  "Return the entry of `eglot-server-programs' that serves MODE, if any."
  (seq-find (lambda (entry)
              (let ((modes (car entry)))
                (cond ((symbolp modes) (eq modes mode))
                      ((consp modes)
                       (seq-some (lambda (m) (eq (if (consp m) (car m) m) mode)) modes)))))
            eglot-server-programs))

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

(defun superpose-eglot-setup (&optional replace)
  "Register superpose-ls as the eglot server of `superpose-major-modes'.
eglot runs one server per buffer, so this replaces the server eglot would
otherwise start for those modes (pylsp, pyright, ...).  Unless REPLACE is
non-nil, modes that already have an entry in `eglot-server-programs' (eglot's
defaults or yours) keep it, and a message names them.  For ghost text next to
your own eglot server use `superpose-mode' instead: it needs no eglot entry."
  (require 'eglot)
  (let* ((taken (and (not replace)
                     (seq-filter (lambda (mode) (superpose--eglot-entry-for mode))
                                 superpose-major-modes)))
         (modes (seq-difference superpose-major-modes taken)))
    (when taken
      (message "superpose: eglot already has servers for %s; kept them (use superpose-mode, \
or (superpose-eglot-setup t) to replace them)"
               (mapconcat #'symbol-name taken ", ")))
    (when modes
      (add-to-list 'eglot-server-programs (cons modes (superpose-eglot-contact)))))
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
    :activation-fn (apply #'lsp-activate-on superpose-lsp-languages)
    :server-id 'superpose
    :add-on? t
    :priority -1
    :initialization-options (lambda () superpose-settings))))

(provide 'superpose)
;;; superpose.el ends here
