;;; smoke.el --- Batch end-to-end test of cl-lsp.el with Eglot  -*- lexical-binding: t; -*-

;; emacs --batch -L editors/emacs -l editors/emacs/tests/smoke.el
;; (no -Q: Debian's elpa-eglot is found through the site start files)
;;
;; Environment:
;;   CL_LSP_CMD        server command, split on whitespace (required)
;;   CL_LSP_FILE       file to open; served in `text-mode' unless its mode is already listed
;;   CL_LSP_LINE       1-based line, CL_LSP_COL 0-based column of the request (required)
;;   CL_LSP_OUT        where to write the buffer after each accept (suffixed .1, .2)
;;   CL_LSP_STATS_OUT  where to write `cl-lsp.stats' (all kept) as JSON at the end
;;   CL_LSP_SETTINGS   optional JSON object: the "cl-lsp" settings section
;;   CL_LSP_TIMEOUT    optional seconds to wait for the first suggestion (default 120)
;;
;; Accepts a suggestion twice: through `cl-lsp-complete', then, on the original text
;; again, through `completion-at-point' (Eglot's capf).  Exit status 0 on success.

;;; Code:

(require 'cl-lib)
(require 'json)

(defun cl-lsp-smoke--fail (fmt &rest args)
  (princ (concat "cl-lsp emacs smoke: FAIL: " (apply #'format fmt args) "\n") #'external-debugging-output)
  (kill-emacs 1))

(defun cl-lsp-smoke--env (name &optional default)
  (let ((value (getenv name)))
    (if (and value (not (string-empty-p value))) value
      (or default (cl-lsp-smoke--fail "%s is required" name)))))

(defun cl-lsp-smoke--goto (line col)
  (goto-char (point-min))
  (forward-line (1- line))
  (forward-char col))

(defun cl-lsp-smoke--write (file)
  (write-region (point-min) (point-max) file nil 'silent))

(condition-case err
    (let* ((file (expand-file-name (cl-lsp-smoke--env "CL_LSP_FILE")))
           (line (string-to-number (cl-lsp-smoke--env "CL_LSP_LINE")))
           (col (string-to-number (cl-lsp-smoke--env "CL_LSP_COL")))
           (out (cl-lsp-smoke--env "CL_LSP_OUT"))
           (stats-out (cl-lsp-smoke--env "CL_LSP_STATS_OUT"))
           (timeout (string-to-number (cl-lsp-smoke--env "CL_LSP_TIMEOUT" "120")))
           (settings (getenv "CL_LSP_SETTINGS")))
      (require 'cl-lsp)
      (setq cl-lsp-command (split-string (cl-lsp-smoke--env "CL_LSP_CMD")))
      (when (and settings (not (string-empty-p settings)))
        (setq cl-lsp-settings (json-parse-string settings :object-type 'plist
                                                 :false-object :json-false)))
      (add-to-list 'cl-lsp-major-modes 'text-mode)
      (cl-lsp-setup)
      (find-file file)
      (unless (memq major-mode cl-lsp-major-modes) (text-mode))
      ;; `eglot-ensure' waits for the command loop, which batch mode never runs.
      (apply #'eglot (eglot--guess-contact))
      (unless (eglot-current-server) (cl-lsp-smoke--fail "Eglot did not connect"))
      (let ((original (buffer-string))
            (deadline (+ (float-time) timeout))
            item)
        ;; 1. `cl-lsp-complete' (retried while the model loads).
        (while (and (not item) (< (float-time) deadline))
          (cl-lsp-smoke--goto line col)
          (setq item (cl-lsp-complete))
          (unless item (accept-process-output nil 0.3)))
        (unless item (cl-lsp-smoke--fail "no suggestion within %ss" timeout))
        (when (string= original (buffer-string))
          (cl-lsp-smoke--fail "cl-lsp-complete inserted nothing"))
        (cl-lsp-smoke--write (concat out ".1"))
        ;; 2. The same place in the original text, through completion-at-point.
        (erase-buffer)
        (insert original)
        (cl-lsp-smoke--goto line col)
        (let ((before (buffer-string)))
          (completion-at-point)
          (when (string= before (buffer-string))
            (cl-lsp-smoke--fail "completion-at-point inserted nothing")))
        (cl-lsp-smoke--write (concat out ".2"))
        (let ((stats (cl-lsp-stats-data "all")))
          (with-temp-file stats-out
            (insert (json-encode stats)))))
      (eglot-shutdown (eglot-current-server))
      (kill-emacs 0))
  (error (cl-lsp-smoke--fail "%S" err)))

;;; smoke.el ends here
