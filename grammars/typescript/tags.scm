; cl-lsp tags query for TypeScript (tsx.scm is this file plus JSX references).
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


(function_declaration
  name: (identifier) @name) @definition.function

(generator_function_declaration
  name: (identifier) @name) @definition.function

(function_signature
  name: (identifier) @name) @definition.function

[(class_declaration name: (type_identifier) @name)
 (abstract_class_declaration name: (type_identifier) @name)] @definition.class

(interface_declaration
  name: (type_identifier) @name) @definition.interface

(type_alias_declaration
  name: (type_identifier) @name) @definition.type

(enum_declaration
  name: (identifier) @name) @definition.enum

(internal_module
  name: [(identifier) (nested_identifier)] @name) @definition.module

(module
  name: [(identifier) (nested_identifier)] @name) @definition.module

(method_definition
  name: [(property_identifier) (private_property_identifier)] @name) @definition.method

[(method_signature name: (property_identifier) @name)
 (abstract_method_signature name: (property_identifier) @name)] @definition.method

(public_field_definition
  name: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression)]) @definition.method

; Top-level `const f = () => {}` / `const X = 1`, exported or not. A declarator matched
; as both function and variable is kept as a function by the tagger.
(program
  [(lexical_declaration
     (variable_declarator
       name: (identifier) @name
       value: [(arrow_function) (function_expression) (generator_function)]))
   (variable_declaration
     (variable_declarator
       name: (identifier) @name
       value: [(arrow_function) (function_expression) (generator_function)]))] @definition.function)

(program
  (export_statement
    declaration: (lexical_declaration
      (variable_declarator
        name: (identifier) @name
        value: [(arrow_function) (function_expression) (generator_function)])) @definition.function))

(program
  [(lexical_declaration
     (variable_declarator
       name: (identifier) @name
       value: (_)))
   (variable_declaration
     (variable_declarator
       name: (identifier) @name
       value: (_)))] @definition.variable)

(program
  (export_statement
    declaration: (lexical_declaration
      (variable_declarator
        name: (identifier) @name
        value: (_))) @definition.variable))

(import_statement
  (import_clause
    [
      (identifier) @import.name
      (named_imports (import_specifier name: (identifier) @import.name))
      (namespace_import (identifier) @import.name)
    ])
  source: (string) @import.module) @import

(import_statement
  source: (string) @import.module) @import

(export_statement
  source: (string) @import.module) @import

(export_statement
  (export_clause (export_specifier name: (_) @import.name))
  source: (string) @import.module) @import

(call_expression
  function: (identifier) @_require
  arguments: (arguments . (string) @import.module .)
  (#eq? @_require "require")) @import

(call_expression
  function: (import)
  arguments: (arguments . (string) @import.module)) @import

(call_expression
  function: [
    (identifier) @reference
    (member_expression property: (property_identifier) @reference)
  ])

(new_expression
  constructor: [
    (identifier) @reference
    (member_expression property: (property_identifier) @reference)
  ])

(type_identifier) @reference
(extends_clause value: (identifier) @reference)
