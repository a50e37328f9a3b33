; cl-lsp tags query for Python.
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

(function_definition
  name: (identifier) @name) @definition.function

(class_definition
  name: (identifier) @name) @definition.class

; Module-level and class-level assignments: `X = ...`, `x: int = ...`.
(module
  (expression_statement
    (assignment
      left: (identifier) @name) @definition.variable))

(class_definition
  body: (block
    (expression_statement
      (assignment
        left: (identifier) @name) @definition.variable)))

(import_statement
  name: [
    (dotted_name) @import.module
    (aliased_import name: (dotted_name) @import.module)
  ]) @import

(import_from_statement
  module_name: (_) @import.module
  name: [
    (dotted_name) @import.name
    (aliased_import name: (dotted_name) @import.name)
  ]) @import

(import_from_statement
  module_name: (_) @import.module
  (wildcard_import)) @import

(call
  function: [
    (identifier) @reference
    (attribute attribute: (identifier) @reference)
  ])

(type (identifier) @reference)
(type (generic_type (identifier) @reference))
(class_definition superclasses: (argument_list (identifier) @reference))
(class_definition superclasses: (argument_list (attribute attribute: (identifier) @reference)))
(decorator (identifier) @reference)
