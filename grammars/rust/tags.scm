; cl-lsp tags query for Rust.
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

(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(type_item name: (type_identifier) @name) @definition.type
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(macro_definition name: (identifier) @name) @definition.macro
(mod_item name: (identifier) @name body: (_)) @definition.module

; impl blocks only open a scope: `impl<T> Store<T>` / `impl Trait for Store` -> "Store".
(impl_item
  type: [
    (type_identifier) @name
    (generic_type type: (type_identifier) @name)
    (scoped_type_identifier name: (type_identifier) @name)
  ]) @scope

(use_declaration argument: (_) @import.module) @import
(mod_item name: (identifier) @import.module !body) @import
(extern_crate_declaration name: (identifier) @import.module) @import

(call_expression function: [
  (identifier) @reference
  (scoped_identifier name: (identifier) @reference)
  (field_expression field: (field_identifier) @reference)
])
(macro_invocation macro: (identifier) @reference)
(type_identifier) @reference
