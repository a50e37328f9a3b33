; cl-lsp tags query for C++.
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

; Functions and methods: plain, in-class, out-of-class (`R A::f()`), via pointer/reference.
(function_definition
  declarator: (function_declarator
    declarator: [(identifier) (field_identifier) (operator_name) (destructor_name)] @name)) @definition.function

(function_definition
  declarator: (_ declarator: (function_declarator
    declarator: [(identifier) (field_identifier) (operator_name)] @name))) @definition.function

(function_definition
  declarator: (function_declarator
    declarator: (qualified_identifier
      scope: (_) @scope.name
      name: [(identifier) (operator_name) (destructor_name)] @name))) @definition.function

(function_definition
  declarator: (_ declarator: (function_declarator
    declarator: (qualified_identifier
      scope: (_) @scope.name
      name: [(identifier) (operator_name) (destructor_name)] @name)))) @definition.function

; Prototypes: file/namespace scope and member declarations inside classes.
([(translation_unit) (declaration_list)]
  (declaration
    declarator: [
      (function_declarator declarator: (identifier) @name)
      (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
      (reference_declarator (function_declarator declarator: (identifier) @name))
    ]) @definition.function)

(field_declaration_list
  [(declaration
     declarator: (function_declarator declarator: [(identifier) (destructor_name) (operator_name)] @name))
   (field_declaration
     declarator: [
       (function_declarator declarator: [(field_identifier) (operator_name)] @name)
       (pointer_declarator declarator: (function_declarator declarator: (field_identifier) @name))
       (reference_declarator (function_declarator declarator: (field_identifier) @name))
     ])] @definition.method)

(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(namespace_definition name: [(namespace_identifier) (nested_namespace_specifier)] @name) @definition.module
(type_definition declarator: (type_identifier) @name) @definition.type
(alias_declaration name: (type_identifier) @name) @definition.type
(concept_definition name: (identifier) @name) @definition.type

(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro

([(translation_unit) (declaration_list)]
  (declaration
    declarator: [
      (init_declarator declarator: (identifier) @name)
      (init_declarator declarator: (pointer_declarator declarator: (identifier) @name))
    ]) @definition.variable)

(preproc_include path: [(string_literal) (system_lib_string)] @import.module) @import

(call_expression function: (identifier) @reference)
(call_expression function: (qualified_identifier name: (identifier) @reference))
(call_expression function: (field_expression field: (field_identifier) @reference))
(call_expression function: (template_function name: (identifier) @reference))
(type_identifier) @reference
