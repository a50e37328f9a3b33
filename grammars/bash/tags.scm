; cl-lsp tags query for Bash.
;
; Capture conventions (shared by every grammars/<lang>/tags.scm, read by cl_lsp/core/tags.py):
;   @definition.<kind>  the whole definition node; <kind> is one of function, method, class,
;                       interface, struct, enum, type, trait, constant, variable, module, macro.
;                       The tagger turns a function nested in a class-like definition into a
;                       method and an ALL_CAPS variable into a constant.
;   @name               the definition's name (required with every @definition.*).
;   @scope.name         optional explicit enclosing scope (Go receivers, C++ `A::f`).
;   @scope + @name      a node that only opens a scope (Rust impl blocks).
;   @import             the whole import/include statement.
;   @import.module      the imported module / path as written (quotes are stripped).
;   @import.name        one imported name (repeated per name).
;   @reference          an identifier used: call sites, type names, base classes.

(function_definition name: (word) @name) @definition.function

(program
  (declaration_command (variable_assignment name: (variable_name) @name)) @definition.variable)
(program
  (variable_assignment name: (variable_name) @name) @definition.variable)

((command
   name: (command_name) @_cmd
   argument: (_) @import.module) @import
 (#any-of? @_cmd "source" "."))

((command name: (command_name (word) @reference))
 (#not-match? @reference "^(source|\\.)$"))
