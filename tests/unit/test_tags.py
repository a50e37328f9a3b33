"""Tag extraction per language: names, kinds, signatures, docs, scopes, imports."""

from __future__ import annotations

import pytest
import tree_sitter as ts

from cl_lsp.core.languages import LANGUAGES, query, query_source, ts_language
from cl_lsp.core.symbols import Definition, FileTags
from cl_lsp.core.tags import MAX_DOC_CHARS, MAX_SIGNATURE_CHARS, content_hash, extract_tags

# One small, realistic file per language: the tests below check what the tagger finds in it.
SNIPPETS: dict[str, str] = {
    "python": r'''import os, sys as system
from .util import helper, Thing as T
from ..pkg.mod import *
MAX_SIZE = 10
counter: int = 0

# Shapes module.
class Shape(Base):
    """A shape."""
    sides = 0

    @property
    def area(self, scale: float = 1.0) -> float:
        """Area of the shape."""
        return helper(scale) * math.pi

    def _grow(self,
              by: int) -> None:
        x: Vector = Vector()

def top(a, b=2):
    # no docstring
    def inner():
        pass
    return Shape()
''',
    "javascript": r"""import React, { useState, useEffect as ue } from "react";
import * as util from './util.js';
const fs = require('fs');
export { a } from "./a";

/**
 * Adds numbers.
 */
export function add(a, b) {
  return util.sum(a, b);
}

// A widget.
class Widget extends Base {
  constructor(x) { this.x = x; }
  render() { return new View(this.x); }
  static create = () => new Widget(1);
}

export const double = (x) => x * 2;
const LIMIT = 5;
let state = { a: 1 };
export default class App {}
""",
    "typescript": r"""import { Foo, Bar } from "./models/foo";
import type { Baz } from "../baz";
import def from "lib";

/** A point. */
export interface Point { x: number; y: number; }
export type Id = string | number;
enum Color { Red, Green }

export class Repo<T> implements Store<T> {
  private items: T[] = [];
  /** Get by id. */
  get(id: Id): T | undefined { return this.items.find((i) => match(i, id)); }
}

export function makeRepo<T>(seed: T[]): Repo<T> {
  return new Repo<T>();
}
export const handler = async (req: Request): Promise<Response> => { return respond(req); };
namespace NS { export function inner(): void {} }
abstract class Abs { abstract run(): void; }
""",
    "tsx": r"""import { Foo, Bar } from "./models/foo";
import type { Baz } from "../baz";
import def from "lib";

/** A point. */
export interface Point { x: number; y: number; }
export type Id = string | number;
enum Color { Red, Green }

export class Repo<T> implements Store<T> {
  private items: T[] = [];
  /** Get by id. */
  get(id: Id): T | undefined { return this.items.find((i) => match(i, id)); }
}

export function makeRepo<T>(seed: T[]): Repo<T> {
  return new Repo<T>();
}
export const handler = async (req: Request): Promise<Response> => { return respond(req); };
namespace NS { export function inner(): void {} }
abstract class Abs { abstract run(): void; }
export function View(props: Props) { return <div className="a">{props.x}</div>; }
""",
    "java": r"""package com.example.app;

import java.util.List;
import static java.lang.Math.max;
import com.example.util.*;

/**
 * A user service.
 */
public class UserService extends Base implements Service {
    public static final int MAX = 10;
    private final Repo repo;

    /** Builds it. */
    public UserService(Repo repo) { this.repo = repo; }

    @Override
    public List<User> findAll(int limit) throws IOException {
        return repo.load(max(limit, MAX));
    }

    interface Listener { void onEvent(Event e); }
    enum Mode { A, B }
    record Pair(int a, int b) {}
}
""",
    "c": r"""#include <stdio.h>
#include "util/helpers.h"
#define MAX_LEN 128
#define SQUARE(x) ((x) * (x))

/* A point. */
typedef struct Point {
    int x, y;
} Point;

struct Node { struct Node *next; };
enum Color { RED, GREEN };
typedef unsigned long size_type;
static const int LIMIT = 4;

int area(int w, int h);

/**
 * Computes distance.
 */
static double distance(const Point *a,
                       const Point *b) {
    return sqrt(helper(a->x, b->x));
}

char *dup_str(const char *s) { return strdup(s); }
""",
    "cpp": r"""#include <vector>
#include "geom/shape.hpp"

namespace geom {

/// A circle.
class Circle : public Shape {
public:
    Circle(double r);
    double area() const override { return kPi * r_ * r_; }
    virtual ~Circle();
private:
    double r_;
};

double Circle::perimeter() const { return 2 * kPi * compute(r_); }

template <typename T>
T clamp(T v, T lo, T hi) { return std::max(lo, std::min(v, hi)); }

struct Vec { float x; };
using Real = double;
}  // namespace geom

int main() { geom::Circle c(1.0); return 0; }
""",
    "c_sharp": r"""using System;
using System.Collections.Generic;
using static System.Math;

namespace App.Services
{
    /// <summary>Stores users.</summary>
    public class UserStore : IStore<User>
    {
        public const int Max = 5;
        public string Name { get; set; }

        /// <summary>Finds a user.</summary>
        public async Task<User> FindAsync(int id) { return await repo.Get(id); }
        public UserStore(Repo r) { }
    }

    public interface IStore<T> { T Find(int id); }
    public struct Pt { public int X; }
    public enum Kind { A, B }
    public record Person(string Name);
}
""",
    "php": r"""<?php
namespace App\Models;

use Foo\Bar\Baz;
use Foo\{A, B as C};
require_once __DIR__ . '/util.php';
include 'lib/x.php';

const VERSION = "1.0";

/**
 * A user model.
 */
class User extends Model implements Jsonable {
    const MAX = 3;
    /** Get name. */
    public function name(int $a): string { return format_name($a); }
}

interface Jsonable { public function toJson(): string; }
trait Greets { public function hello() {} }

function helper($x) { return new User(); }
""",
    "go": r"""package store

import (
	"fmt"
	str "strings"
	"example.com/app/internal/model"
)

import "os"

// MaxItems caps the store.
const MaxItems = 10

var defaultName = "x"

// Store keeps items.
type Store struct {
	items []model.Item
}

type Getter interface {
	Get(id int) (model.Item, error)
}

type ID = string

// Get returns an item.
func (s *Store) Get(id int) (model.Item, error) {
	return s.items[id], fmt.Errorf("x")
}

// New makes a store.
func New[T any](n int) *Store {
	return &Store{}
}
""",
    "rust": r"""use std::collections::HashMap;
use crate::model::{Item, Kind as K};
use super::util::*;
mod helpers;
pub mod api {
    pub fn ping() {}
}

/// Maximum size.
pub const MAX: usize = 10;
static COUNTER: u32 = 0;

/// A store.
#[derive(Debug)]
pub struct Store<T> {
    items: Vec<T>,
}

pub enum Mode { A, B }
type Map = HashMap<String, Item>;

pub trait Getter {
    fn get(&self, id: usize) -> Option<&Item>;
}

impl<T: Clone> Store<T> {
    /// Makes one.
    pub fn new() -> Self {
        Store { items: Vec::new() }
    }
}

impl Getter for Store<Item> {
    fn get(&self, id: usize) -> Option<&Item> { self.items.get(id) }
}

macro_rules! square { ($x:expr) => { $x * $x }; }

pub fn run<T>(x: T) -> Result<(), Error>
where
    T: Clone,
{
    helpers::go(x)
}
""",
    "bash": r"""#!/usr/bin/env bash
source ./lib/common.sh
. "$HOME/.profile"
readonly VERSION=1.2
export PATH_EXTRA=/opt

# Prints usage.
usage() {
  echo "usage"
}

function build {
  make_dirs "$1"
  usage
}
""",
}


def tag(language: str, source: str | None = None, path: str = "") -> FileTags:
    text = SNIPPETS[language] if source is None else source
    return extract_tags(path or f"src/sample.{language}", language, text.encode())


def defs(tags: FileTags) -> dict[str, Definition]:
    """Definitions by qualified name (scope.name); the first wins on duplicates."""
    out: dict[str, Definition] = {}
    for d in tags.definitions:
        out.setdefault(f"{d.scope}.{d.name}" if d.scope else d.name, d)
    return out


def imports(tags: FileTags) -> dict[str, tuple[str, ...]]:
    return {i.module: i.names for i in tags.imports}


@pytest.mark.parametrize("spec", LANGUAGES, ids=lambda s: s.name)
def test_every_query_compiles_and_finds_something(spec) -> None:
    source = query_source(spec.name, "tags")
    assert source is not None, f"grammars/{spec.name}/tags.scm is missing"
    assert source.lstrip().startswith(";"), "the header comment documents the captures"
    compiled = ts.Query(ts_language(spec.name), source)
    assert compiled.pattern_count > 0
    assert query(spec.name, "tags") is not None
    tags = tag(spec.name)
    assert tags.definitions and tags.imports and tags.references
    for d in tags.definitions:
        assert d.name and d.signature and "\n" not in d.signature
        assert 0 <= d.start_line <= d.end_line
        assert d.path == f"src/sample.{spec.name}"


def test_python() -> None:
    tags = tag("python")
    d = defs(tags)
    assert d["Shape"].kind == "class"
    assert d["Shape"].signature == "class Shape(Base):"
    assert d["Shape"].doc == '"""A shape."""'
    area = d["Shape.area"]
    assert area.kind == "method"
    assert area.signature == "def area(self, scale: float = 1.0) -> float:"
    assert area.doc == '"""Area of the shape."""'
    assert area.start_line == 12  # where the signature starts (decorators above it)
    assert d["Shape._grow"].signature == "def _grow(self, by: int) -> None:"
    assert d["top"].kind == "function" and d["top"].doc == ""
    assert d["top.inner"].kind == "function"
    assert d["MAX_SIZE"].kind == "constant" and d["MAX_SIZE"].signature == "MAX_SIZE = 10"
    assert d["counter"].kind == "variable"
    assert d["Shape.sides"].kind == "variable"
    assert imports(tags) == {
        "os": (),
        "sys": (),
        ".util": ("helper", "Thing"),
        "..pkg.mod": (),
    }
    assert {"Base", "helper", "Vector", "Shape", "float"} <= tags.references
    assert tags.content_hash == content_hash(SNIPPETS["python"].encode())


def test_python_comment_doc_and_long_signature() -> None:
    source = (
        "x = 1  # trailing, not a doc\n"
        "# Frobnicates.\n"
        "# Twice.\n"
        "def frob(\n" + "".join(f"    arg{i}: int = {i},\n" for i in range(40)) + ") -> int:\n"
        "    return 1\n"
    )
    d = defs(tag("python", source))["frob"]
    assert d.doc == "# Frobnicates.\n# Twice."
    assert d.signature.startswith("def frob(arg0: int = 0, arg1: int = 1,")
    assert len(d.signature) <= MAX_SIGNATURE_CHARS and d.signature.endswith("...")


def test_doc_needs_adjacency_and_is_capped() -> None:
    source = "# Detached.\n\ndef f():\n    pass\n\ndef g():\n    '''" + "x" * 2000 + "'''\n"
    d = defs(tag("python", source))
    assert d["f"].doc == ""
    assert len(d["g"].doc) <= MAX_DOC_CHARS
    assert d["g"].doc.startswith("'''xxx") and d["g"].doc.endswith("...'''")  # still a literal


def test_javascript() -> None:
    tags = tag("javascript")
    d = defs(tags)
    assert d["add"].signature == "export function add(a, b)"
    assert d["add"].doc == "/**\n * Adds numbers.\n */"
    assert d["Widget"].signature == "class Widget extends Base"
    assert d["Widget"].doc == "// A widget."
    assert d["Widget.render"].kind == "method"
    assert d["Widget.create"].kind == "method"
    assert d["double"].kind == "function"
    assert d["double"].signature == "export const double = (x) =>"
    assert d["LIMIT"].kind == "constant"
    assert d["state"].kind == "variable"
    assert d["App"].kind == "class"
    assert imports(tags) == {
        "react": ("React", "useState", "useEffect"),
        "./util.js": ("util",),
        "fs": (),
        "./a": ("a",),
    }
    assert {"View", "Widget", "Base", "sum"} <= tags.references


def test_javascript_commonjs() -> None:
    source = "// Greets.\nmodule.exports.greet = function (name) {\n  return name;\n};\n"
    greet = defs(tag("javascript", source))["greet"]
    assert greet.kind == "function" and greet.doc == "// Greets."
    assert greet.signature == "module.exports.greet = function (name)"


@pytest.mark.parametrize("language", ["typescript", "tsx"])
def test_typescript(language: str) -> None:
    tags = tag(language)
    d = defs(tags)
    assert d["Point"].kind == "interface" and d["Point"].doc == "/** A point. */"
    assert d["Id"].kind == "type" and d["Id"].signature == "export type Id = string | number;"
    assert d["Color"].kind == "enum"
    assert d["Repo"].signature == "export class Repo<T> implements Store<T>"
    assert d["Repo.get"].kind == "method"
    assert d["Repo.get"].signature == "get(id: Id): T | undefined"
    assert d["Repo.get"].doc == "/** Get by id. */"
    assert d["makeRepo"].signature == "export function makeRepo<T>(seed: T[]): Repo<T>"
    assert d["handler"].kind == "function"
    assert d["NS"].kind == "module" and d["NS.inner"].kind == "function"
    assert d["Abs.run"].kind == "method"
    assert imports(tags)["./models/foo"] == ("Foo", "Bar")
    assert imports(tags)["../baz"] == ("Baz",)
    assert {"Store", "Request", "Response", "match"} <= tags.references
    if language == "tsx":
        assert "Props" in tags.references and "div" not in tags.references


def test_java() -> None:
    tags = tag("java")
    d = defs(tags)
    assert d["com.example.app"].kind == "module"
    svc = d["UserService"]
    assert svc.signature == "public class UserService extends Base implements Service"
    assert svc.doc == "/**\n * A user service.\n */"
    assert d["UserService.findAll"].kind == "method"
    assert d["UserService.findAll"].signature == (
        "@Override public List<User> findAll(int limit) throws IOException"
    )
    assert d["UserService.UserService"].doc == "/** Builds it. */"
    assert d["UserService.MAX"].kind == "constant"
    assert "UserService.repo" not in d  # plain fields are not indexed
    assert d["UserService.Listener.onEvent"].kind == "method"
    assert d["UserService.Mode"].kind == "enum"
    assert set(imports(tags)) == {"java.util.List", "java.lang.Math.max", "com.example.util"}
    assert {"Repo", "load", "max", "IOException"} <= tags.references


def test_c() -> None:
    tags = tag("c")
    d = defs(tags)
    dist = d["distance"]
    assert dist.kind == "function"
    assert dist.signature == "static double distance(const Point *a, const Point *b)"
    assert dist.doc == "/**\n * Computes distance.\n */"
    assert d["dup_str"].signature == "char *dup_str(const char *s)"
    assert d["area"].signature == "int area(int w, int h);"  # a prototype
    assert d["Point"].doc == "/* A point. */"
    assert {x.kind for x in tags.definitions if x.name == "Point"} == {"type", "struct"}
    assert d["MAX_LEN"].kind == "macro" and d["MAX_LEN"].end_line == d["MAX_LEN"].start_line
    assert d["LIMIT"].kind == "constant"
    assert imports(tags) == {"stdio.h": (), "util/helpers.h": ()}
    assert {"helper", "sqrt", "strdup"} <= tags.references


def test_cpp() -> None:
    tags = tag("cpp")
    d = defs(tags)
    assert d["geom"].kind == "module"
    circle = d["geom.Circle"]
    assert circle.signature == "class Circle : public Shape" and circle.doc == "/// A circle."
    assert d["geom.Circle.area"].kind == "method"
    assert d["geom.Circle.area"].signature == "double area() const override"
    assert d["geom.Circle.Circle"].kind == "method"
    assert d["geom.Circle.perimeter"].kind == "method"  # defined out of class: `Circle::`
    assert d["geom.clamp"].signature == "template <typename T> T clamp(T v, T lo, T hi)"
    assert d["geom.Real"].kind == "type"
    assert d["main"].kind == "function"
    assert imports(tags) == {"vector": (), "geom/shape.hpp": ()}
    assert {"compute", "max", "Shape"} <= tags.references


def test_c_sharp() -> None:
    tags = tag("c_sharp")
    d = defs(tags)
    store = d["App.Services.UserStore"]
    assert store.kind == "class" and store.doc == "/// <summary>Stores users.</summary>"
    assert store.signature == "public class UserStore : IStore<User>"
    find = d["App.Services.UserStore.FindAsync"]
    assert find.kind == "method" and find.signature == "public async Task<User> FindAsync(int id)"
    assert find.doc == "/// <summary>Finds a user.</summary>"
    assert d["App.Services.UserStore.Max"].kind == "constant"
    assert d["App.Services.UserStore.Name"].kind == "property"
    assert d["App.Services.IStore.Find"].kind == "method"
    assert d["App.Services.Pt"].kind == "struct"
    assert set(imports(tags)) == {"System", "System.Collections.Generic", "System.Math"}
    assert {"Get", "Repo", "Task"} <= tags.references


def test_php() -> None:
    tags = tag("php")
    d = defs(tags)
    assert d["App\\Models"].kind == "module"
    user = d["User"]
    assert user.signature == "class User extends Model implements Jsonable"
    assert user.doc == "/**\n * A user model.\n */"
    assert d["User.name"].kind == "method"
    assert d["User.name"].signature == "public function name(int $a): string"
    assert d["User.name"].doc == "/** Get name. */"
    assert d["Greets"].kind == "trait" and d["Jsonable.toJson"].kind == "method"
    assert d["helper"].kind == "function" and d["VERSION"].kind == "constant"
    assert imports(tags) == {
        "Foo\\Bar\\Baz": (),
        "Foo": ("A", "B"),
        "/util.php": (),
        "lib/x.php": (),
    }
    assert {"format_name", "User", "Model"} <= tags.references


def test_go() -> None:
    tags = tag("go")
    d = defs(tags)
    assert d["store"].kind == "module"
    get = d["Store.Get"]
    assert get.kind == "method"
    assert get.signature == "func (s *Store) Get(id int) (model.Item, error)"
    assert get.doc == "// Get returns an item."
    assert d["Store"].kind == "struct" and d["Store"].signature == "type Store struct"
    assert d["Store"].doc == "// Store keeps items."
    assert d["Getter"].kind == "interface" and d["Getter.Get"].kind == "method"
    assert d["New"].signature == "func New[T any](n int) *Store"
    assert d["MaxItems"].kind == "constant" and d["MaxItems"].doc == "// MaxItems caps the store."
    assert d["ID"].kind == "type"
    assert set(imports(tags)) == {"fmt", "strings", "example.com/app/internal/model", "os"}
    assert {"Errorf", "Item", "Store"} <= tags.references


def test_rust() -> None:
    tags = tag("rust")
    d = defs(tags)
    new = d["Store.new"]
    assert new.kind == "method" and new.signature == "pub fn new() -> Self"
    assert new.doc == "/// Makes one."
    assert d["Store"].kind == "struct" and d["Store"].doc == "/// A store."  # past #[derive]
    assert d["Getter"].kind == "trait" and d["Getter.get"].kind == "method"
    assert d["api.ping"].kind == "function" and d["api"].kind == "module"
    assert d["MAX"].kind == "constant" and d["MAX"].doc == "/// Maximum size."
    assert d["square"].kind == "macro"
    assert d["run"].signature == "pub fn run<T>(x: T) -> Result<(), Error> where T: Clone,"
    assert imports(tags) == {
        "std::collections::HashMap": (),
        "crate::model": ("Item", "Kind"),
        "super::util": (),
        "helpers": (),
    }
    assert {"HashMap", "go", "Vec"} <= tags.references


def test_bash() -> None:
    tags = tag("bash")
    d = defs(tags)
    assert d["usage"].kind == "function" and d["usage"].doc == "# Prints usage."
    assert d["usage"].signature == "usage()"
    assert d["build"].signature == "function build"
    assert d["VERSION"].kind == "constant"
    assert imports(tags) == {"./lib/common.sh": (), "$HOME/.profile": ()}
    assert {"make_dirs", "usage"} <= tags.references
    assert "source" not in tags.references


def test_broken_source_still_tags() -> None:
    source = "def ok(a):\n    return a\n\ndef broken(:\n    pass\nclass C:\n  def m(self): ...\n"
    tags = tag("python", source)
    assert "ok" in defs(tags)


def test_empty_and_non_utf8() -> None:
    assert tag("python", "").definitions == ()
    tags = extract_tags("x.py", "python", b"def f():\n    return '\xff\xfe'\n")
    assert defs(tags)["f"].signature == "def f():"
