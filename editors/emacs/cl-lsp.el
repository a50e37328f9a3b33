;;; cl-lsp.el --- Eglot setup for cl-lsp, local Code Llama completions  -*- lexical-binding: t; -*-

;; Package-Requires: ((emacs "27.1") (eglot "1.9"))
;; Keywords: languages, tools, completion
;; SPDX-License-Identifier: Apache-2.0

;;; Commentary:

;; cl-lsp is a language server (`cl-lsp --stdio') that serves fill-in-the-middle
;; completions from a local Code Llama model.  Eglot talks to it like to any server:
;;
;; - completion: Eglot has no LSP inline completion (ghost text); completions come
;;   through `completion-at-point' (capf) from `textDocument/completion', so they show
;;   up in the *Completions* buffer, Company or Corfu.  `cl-lsp-complete' inserts the
;;   model's text at point directly.  Either way the accept is reported to the server
;;   (the item's `cl-lsp.accepted' command) for its local statistics: `cl-lsp-stats'.
;; - code actions: `eglot-code-actions' (Generate docstring, quick fixes).
;; - settings: the "cl-lsp" section of `eglot-workspace-configuration', answered to
;;   `workspace/configuration' and sent with `workspace/didChangeConfiguration'.
;; - status: the `cl-lsp/status' notification is shown in the mode line.
;;
;; Eglot runs one server per major mode and project, so the modes listed in
;; `cl-lsp-major-modes' use cl-lsp *instead of* their usual language server.
;;
;; Usage:
;;
;;   (add-to-list 'load-path "/path/to/cl-lsp/editors/emacs")
;;   (require 'cl-lsp)
;;   (setq cl-lsp-settings '(:completion (:maxTokens 48) :model (:path "~/models/codellama-7b.Q4_K_M.gguf")))
;;   (cl-lsp-setup)              ; registers cl-lsp in `eglot-server-programs'
;;   (add-hook 'python-mode-hook #'eglot-ensure)

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'jsonrpc)

(defgroup cl-lsp nil
  "Local Code Llama completions through the cl-lsp language server."
  :group 'tools
  :prefix "cl-lsp-")

(defcustom cl-lsp-command '("cl-lsp" "--stdio")
  "Command line that starts the cl-lsp server."
  :type '(repeat string))

(defcustom cl-lsp-major-modes
  '(python-mode python-ts-mode
    js-mode js-ts-mode typescript-mode typescript-ts-mode tsx-ts-mode
    c-mode c-ts-mode c++-mode c++-ts-mode java-mode java-ts-mode
    go-mode go-ts-mode rust-mode rust-ts-mode sh-mode bash-ts-mode
    php-mode ruby-mode ruby-ts-mode csharp-mode csharp-ts-mode lua-mode)
  "Major modes served by cl-lsp (instead of their usual server)."
  :type '(repeat symbol))

(defcustom cl-lsp-settings nil
  "The \"cl-lsp\" settings section, as a plist.
For example (:completion (:maxTokens 48 :fimLayout \"spm\")
             :model (:path \"~/models/m.gguf\" :nGpuLayers 0)
             :context (:budgetTokens 1024)).
Use :json-false for false.  Sent as initializationOptions and under :cl-lsp in
`eglot-workspace-configuration'."
  :type 'plist)

(defvar cl-lsp-status nil
  "Plist of the last `cl-lsp/status' notification (:state :model :backend ...).")

(defun cl-lsp--contact (&optional _interactive)
  "Eglot contact for cl-lsp: the command plus initializationOptions."
  (if cl-lsp-settings
      (append cl-lsp-command (list :initializationOptions cl-lsp-settings))
    cl-lsp-command))

(defun cl-lsp--set-workspace-configuration ()
  "Put `cl-lsp-settings' under :cl-lsp in `eglot-workspace-configuration'."
  (let ((config (copy-sequence (default-value 'eglot-workspace-configuration))))
    (if (and config (consp (car config)))
        ;; alist form: (("cl-lsp" . plist) ...) or ((:cl-lsp . plist) ...)
        (setq config (cons (cons :cl-lsp cl-lsp-settings)
                           (cl-remove-if (lambda (e) (member (car e) '(:cl-lsp "cl-lsp" cl-lsp)))
                                         config)))
      (setq config (plist-put config :cl-lsp cl-lsp-settings)))
    (setq-default eglot-workspace-configuration config)))

;;;###autoload
(defun cl-lsp-setup ()
  "Register cl-lsp with Eglot for `cl-lsp-major-modes' and pass `cl-lsp-settings'."
  (interactive)
  (setq eglot-server-programs
        (cons (cons cl-lsp-major-modes #'cl-lsp--contact)
              (cl-remove-if (lambda (e) (eq (cdr e) #'cl-lsp--contact)) eglot-server-programs)))
  (cl-lsp--set-workspace-configuration)
  (unless (member '(:eval (cl-lsp-mode-line)) global-mode-string)
    (setq global-mode-string (append (or global-mode-string '("")) '((:eval (cl-lsp-mode-line)))))))

(defun cl-lsp-mode-line ()
  "Mode-line text for the cl-lsp status."
  (when (and cl-lsp-status (eglot-current-server))
    (let ((state (plist-get cl-lsp-status :state))
          (model (plist-get cl-lsp-status :model))
          (progress (plist-get cl-lsp-status :progress)))
      (propertize
       (concat " cl-lsp:" (or state "?")
               (and model (concat " " (file-name-base model)))
               (and (numberp progress) (format " %d%%" progress)))
       'help-echo (or (plist-get cl-lsp-status :message) "cl-lsp")
       'face (if (equal state "error") 'error 'mode-line)))))

(cl-defmethod eglot-handle-notification
  (_server (_method (eql cl-lsp/status)) &rest params &key state model backend message &allow-other-keys)
  "Handle the cl-lsp/status notification."
  (setq cl-lsp-status
        (list :state state
              :model (or model (plist-get cl-lsp-status :model))
              :backend (or backend (plist-get cl-lsp-status :backend))
              :message message
              :progress (plist-get params :progress)))
  (when (equal state "error")
    (message "cl-lsp: %s" (or message "error")))
  (force-mode-line-update t))

(defun cl-lsp--server ()
  (or (eglot-current-server) (user-error "cl-lsp: no Eglot server in this buffer")))

(defun cl-lsp--report-accept (server item)
  "Run ITEM's accept command (`cl-lsp.accepted') on SERVER: acceptance statistics."
  (let ((command (plist-get item :command)))
    (when (and command (equal (plist-get command :command) "cl-lsp.accepted"))
      (jsonrpc-request server :workspace/executeCommand
                       (list :command "cl-lsp.accepted"
                             :arguments (or (plist-get command :arguments) []))))))

(defun cl-lsp--wrap-capf (capf)
  "Make the exit function of Eglot's completion CAPF report accepted cl-lsp items.
Eglot 1.9 applies the item's edit but not its command."
  (if (not (and (consp capf) (eglot-current-server)))
      capf
    (let* ((server (eglot-current-server))
           (collection (nth 2 capf))
           (props (nthcdr 3 capf))
           (exit (plist-get props :exit-function)))
      (append (list (nth 0 capf) (nth 1 capf) collection)
              (plist-put
               (copy-sequence props) :exit-function
               (lambda (proxy status)
                 (when exit (funcall exit proxy status))
                 (when (memq status '(finished exact))
                   (let ((item (or (get-text-property 0 'eglot--lsp-item proxy)
                                   ;; Chosen from *Completions*: the proxy lost its properties.
                                   (let ((found (and (functionp collection)
                                                     (cl-find proxy (funcall collection "" nil t)
                                                              :test #'string=))))
                                     (and found (get-text-property 0 'eglot--lsp-item found))))))
                     (when item
                       (ignore-errors (cl-lsp--report-accept server item)))))))))))

(advice-add 'eglot-completion-at-point :filter-return #'cl-lsp--wrap-capf)

;;;###autoload
(defun cl-lsp-complete ()
  "Ask for a completion at point and insert the first item's edit.
Returns the item, or nil when there was none.  The accept is reported to the server
for its acceptance statistics (`cl-lsp-stats')."
  (interactive)
  (let* ((server (cl-lsp--server))
         (result (jsonrpc-request server :textDocument/completion
                                  (append (eglot--TextDocumentPositionParams)
                                          '(:context (:triggerKind 1)))))
         (items (if (vectorp result) result (plist-get result :items)))
         (item (and items (> (length items) 0) (aref items 0))))
    (if (not item)
        (progn (message "cl-lsp: no completion") nil)
      (let ((edit (plist-get item :textEdit)))
        (if edit
            (let* ((range (or (plist-get edit :range) (plist-get edit :insert)))
                   (region (eglot--range-region range)))
              (goto-char (car region))
              (delete-region (car region) (cdr region))
              (insert (plist-get edit :newText)))
          (insert (or (plist-get item :insertText) (plist-get item :label))))
        (cl-lsp--report-accept server item)
        item))))

(defun cl-lsp-stats-data (&optional since)
  "The server's acceptance statistics for SINCE (\"7d\", \"12h\", \"all\") as a plist."
  (jsonrpc-request (cl-lsp--server) :workspace/executeCommand
                   (list :command "cl-lsp.stats"
                         :arguments (vector (list :since (or since "7d"))))))

;;;###autoload
(defun cl-lsp-stats (&optional since)
  "Show what you accepted from cl-lsp in the last SINCE (default 7d)."
  (interactive (list (read-string "Period (7d, 12h, all): " nil nil "7d")))
  (let* ((data (cl-lsp-stats-data since))
         (total (plist-get data :total)))
    (if (not total)
        (message "cl-lsp: statistics are off")
      (message "cl-lsp: %d shown, %d accepted + %d partly (%.1f%%), %d characters, p50 %.0f ms"
               (plist-get total :shown) (plist-get total :accepted) (plist-get total :partial)
               (* 100 (plist-get total :acceptance_rate)) (plist-get total :accepted_chars)
               (plist-get total :latency_p50_ms)))))

;;;###autoload
(defun cl-lsp-show-context ()
  "Show the prompt context cl-lsp builds for point.\nRuns the workspace command cl-lsp.showContext."
  (interactive)
  (let* ((server (cl-lsp--server))
         (pos (eglot--TextDocumentPositionParams))
         ;; cl-lsp.showContext(uri, {line, character}): two positional arguments.
         (args (vector (plist-get (plist-get pos :textDocument) :uri)
                       (plist-get pos :position)))
         (result (jsonrpc-request server :workspace/executeCommand
                                  (list :command "cl-lsp.showContext" :arguments args))))
    (with-current-buffer (get-buffer-create "*cl-lsp context*")
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (cond ((stringp result) result)
                      ((and (listp result) (stringp (plist-get result :text))) (plist-get result :text))
                      (t (format "%S" result))))
        (goto-char (point-min))
        (special-mode))
      (display-buffer (current-buffer)))))

(provide 'cl-lsp)
;;; cl-lsp.el ends here
