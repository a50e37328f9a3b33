; cl-lsp tags query for Go.
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

(package_clause (package_identifier) @name) @definition.module

(function_declaration name: (identifier) @name) @definition.function

; Methods: the receiver's type is the scope.
(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      type: [
        (type_identifier) @scope.name
        (pointer_type (type_identifier) @scope.name)
        (generic_type type: (type_identifier) @scope.name)
        (pointer_type (generic_type type: (type_identifier) @scope.name))
      ]))
  name: (field_identifier) @name) @definition.method

(type_declaration (type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct)
(type_declaration (type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface)
(type_declaration
  (type_spec name: (type_identifier) @name type: (_) @_t) @definition.type
  (#not-match? @_t "^(struct|interface)\\b"))
(type_declaration (type_alias name: (type_identifier) @name) @definition.type)

(interface_type (method_elem name: (field_identifier) @name) @definition.method)

(source_file (const_declaration (const_spec name: (identifier) @name) @definition.constant))
(source_file (var_declaration (var_spec name: (identifier) @name) @definition.variable))

(import_spec path: (interpreted_string_literal) @import.module) @import

(call_expression function: [(identifier) @reference (selector_expression field: (field_identifier) @reference)])
(type_identifier) @reference
(qualified_type name: (type_identifier) @reference)
