; cl-lsp tags query for Java.
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

(package_declaration [(scoped_identifier) (identifier)] @name) @definition.module

(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method

; Class constants only (`static final FOO`); other fields are noise for context.
((field_declaration
   declarator: (variable_declarator name: (identifier) @name)) @definition.constant
 (#match? @name "^[A-Z][A-Z0-9_]*$"))

(import_declaration [(scoped_identifier) (identifier)] @import.module) @import

(method_invocation name: (identifier) @reference)
(object_creation_expression type: [(type_identifier) @reference (generic_type (type_identifier) @reference)])
(type_identifier) @reference
(marker_annotation name: (identifier) @reference)
(annotation name: (identifier) @reference)
