; cl-lsp tags query for C#.
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

(namespace_declaration name: [(identifier) (qualified_name)] @name) @definition.module
(file_scoped_namespace_declaration name: [(identifier) (qualified_name)] @name) @definition.module

(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(struct_declaration name: (identifier) @name) @definition.struct
(enum_declaration name: (identifier) @name) @definition.enum
(delegate_declaration name: (identifier) @name) @definition.type
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(property_declaration name: (identifier) @name) @definition.property

; `const` fields only: other fields are noise for context.
((field_declaration
   (variable_declaration (variable_declarator name: (identifier) @name))) @definition.constant
 (#match? @definition.constant "^[^=]*\\bconst\\b"))

(using_directive [(identifier) (qualified_name)] @import.module) @import

(invocation_expression function: (identifier) @reference)
(invocation_expression function: (member_access_expression name: (identifier) @reference))
(invocation_expression function: (generic_name (identifier) @reference))
(object_creation_expression type: [(identifier) @reference (generic_name (identifier) @reference) (qualified_name name: (identifier) @reference)])
(base_list (identifier) @reference)
(base_list (generic_name (identifier) @reference))
(parameter type: (identifier) @reference)
(method_declaration returns: (identifier) @reference)
(generic_name (identifier) @reference)
(type_argument_list (identifier) @reference)
(variable_declaration type: (identifier) @reference)
