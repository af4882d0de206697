//! panicguard, the compile-time half: in the body of a `#[recover]` or `#[safe_task]` function,
//! reject what lets a panic escape the guard or vanish (the Go linter's `norawgoroutine` and
//! `nobarerecover` rules):
//!
//! - a raw spawn (`tokio::spawn`, `tokio::task::spawn{,_local,_blocking}`, `std::thread::spawn`,
//!   those functions imported under any name in the body, and `.spawn(..)` on something that is
//!   evidently a tokio runtime, handle or `JoinSet`, or a `std::thread::Builder`): a panic in the
//!   spawned task escapes every guard. `allow_raw_spawn` opts out.
//! - a discarded `catch_unwind` result (`let _ = catch_unwind(..)`): the panic is swallowed with
//!   no log, no metric and no report.
//!
//! The check is syntactic and conservative: it never flags what it cannot tell is tokio's (a
//! local `spawn` function, a `spawn` method of another type), and it cannot see imports outside
//! the function. Closures, blocks and the arguments of macros that read as expressions are
//! searched; nested `fn` items are not (they are their own boundary). The project-wide
//! `clippy.toml` ban covers what this misses.

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{
    Expr, ExprClosure, ExprMethodCall, ExprPath, FnArg, Item, Local, Pat, Path, Stmt, Token, Type,
    UseTree,
};

use crate::errors::Errors;
use crate::model::GuardedFn;

const RAW_SPAWN: &str = "raw spawn inside a guarded function: a panic in it escapes every guard; \
     use `mruntime::safe_go!(component = .., name = .., ..)` (or `mruntime::spawn_blocking` for \
     blocking work), or add `allow_raw_spawn` to the attribute if this spawn is deliberate";

const DISCARDED_CATCH_UNWIND: &str = "the result of `catch_unwind` is discarded, so a panic is \
     swallowed without a log, a metric or a report; handle the `Err` (log or report it), or let \
     mruntime catch it: `mruntime::guard(..)` or `#[recover]`";

/// Functions whose call is a raw spawn, by full path.
const RAW_SPAWN_FNS: &[&[&str]] = &[
    &["tokio", "spawn"],
    &["tokio", "task", "spawn"],
    &["tokio", "task", "spawn_local"],
    &["tokio", "task", "spawn_blocking"],
    &["std", "thread", "spawn"],
    &["thread", "spawn"],
    &["tokio", "runtime", "Handle", "spawn"],
    &["tokio", "runtime", "Handle", "spawn_blocking"],
    &["tokio", "runtime", "Runtime", "spawn"],
    &["tokio", "runtime", "Runtime", "spawn_blocking"],
    &["tokio", "task", "JoinSet", "spawn"],
    &["tokio", "task", "JoinSet", "spawn_blocking"],
    &["tokio", "task", "JoinSet", "spawn_local"],
    &["tokio", "task", "LocalSet", "spawn_local"],
    &["std", "thread", "Builder", "spawn"],
];

/// Methods that spawn when called on a tokio runtime, handle, `JoinSet` or `LocalSet`, or on a
/// `std::thread::Builder`.
const SPAWN_METHODS: &[&str] = &[
    "spawn",
    "spawn_blocking",
    "spawn_local",
    "spawn_on",
    "spawn_blocking_on",
    "spawn_local_on",
    "spawn_unchecked",
];

/// Methods that keep a spawner a spawner: `Runtime::new().unwrap()`, `rt.handle()`, the
/// configuration methods of the runtime and thread builders.
const SPAWNER_PRESERVING: &[&str] = &[
    "unwrap",
    "expect",
    "clone",
    "handle",
    "build",
    "enable_all",
    "enable_io",
    "enable_time",
    "worker_threads",
    "max_blocking_threads",
    "thread_name",
    "thread_stack_size",
    "name",
    "stack_size",
    "as_ref",
    "borrow",
];

/// Types whose value is a tokio spawner, when named through `tokio::`.
const TOKIO_SPAWNER_TYPES: &[&str] = &["Handle", "Runtime", "JoinSet", "LocalSet"];

/// Reports every raw spawn and discarded `catch_unwind` in the body of `func`.
pub(crate) fn check(func: &GuardedFn, allow_raw_spawn: bool, errors: &mut Errors) {
    let mut names = Names::default();
    for arg in &func.sig.inputs {
        if let FnArg::Typed(arg) = arg {
            names.visit_pat(&arg.pat);
        }
    }
    names.visit_block(&func.block);

    let mut root = Vec::new();
    for arg in &func.sig.inputs {
        if let FnArg::Typed(arg) = arg
            && let Pat::Ident(pat) = &*arg.pat
        {
            root.push((pat.ident.to_string(), is_tokio_spawner_type(&arg.ty)));
        }
    }
    let mut scan = Scan {
        names,
        scopes: vec![root],
        allow_raw_spawn,
        errors,
    };
    scan.visit_block(&func.block);
}

/// First pass: the imports of the body and every name it binds locally.
#[derive(Default)]
struct Names {
    /// `use` aliases: the name in scope and the full path it stands for.
    imports: HashMap<String, Vec<String>>,
    /// Prefixes of glob imports: `use tokio::task::*;`.
    globs: Vec<Vec<String>>,
    /// Names bound by patterns or local `fn` items: a bare call to one of them is not a spawn.
    locals: HashSet<String>,
}

impl Names {
    fn add_use(&mut self, prefix: &mut Vec<String>, tree: &UseTree) {
        match tree {
            UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.add_use(prefix, &path.tree);
                prefix.pop();
            }
            UseTree::Name(name) if name.ident == "self" => {
                if let Some(last) = prefix.last() {
                    self.imports.insert(last.clone(), prefix.clone());
                }
            }
            UseTree::Name(name) => {
                let mut full = prefix.clone();
                full.push(name.ident.to_string());
                self.imports.insert(name.ident.to_string(), full);
            }
            UseTree::Rename(rename) if rename.rename != "_" => {
                let mut full = prefix.clone();
                if rename.ident != "self" {
                    full.push(rename.ident.to_string());
                }
                self.imports.insert(rename.rename.to_string(), full);
            }
            UseTree::Rename(_) => {}
            UseTree::Glob(_) => self.globs.push(prefix.clone()),
            UseTree::Group(group) => {
                for tree in &group.items {
                    self.add_use(prefix, tree);
                }
            }
        }
    }

    /// The full path `path` stands for, as far as the body's own imports tell.
    fn resolve(&self, path: &Path) -> Vec<String> {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if path.leading_colon.is_some() || segments.is_empty() {
            return segments;
        }
        if let Some(full) = self.imports.get(&segments[0]) {
            return full.iter().chain(&segments[1..]).cloned().collect();
        }
        if segments.len() == 1 {
            for glob in &self.globs {
                let candidate: Vec<String> = glob.iter().chain(&segments).cloned().collect();
                if is_raw_spawn_fn(&candidate) {
                    return candidate;
                }
            }
        }
        segments
    }
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item(&mut self, item: &'ast Item) {
        match item {
            Item::Use(item) => self.add_use(&mut Vec::new(), &item.tree),
            Item::Fn(item) => {
                self.locals.insert(item.sig.ident.to_string());
            }
            _ => {}
        }
    }

    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.locals.insert(pat.ident.to_string());
        visit::visit_pat_ident(self, pat);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        for expr in macro_exprs(mac) {
            self.visit_expr(&expr);
        }
    }
}

/// Second pass: find the calls.
struct Scan<'a> {
    names: Names,
    /// Local bindings, innermost scope last, with whether each holds a tokio spawner.
    scopes: Vec<Vec<(String, bool)>>,
    allow_raw_spawn: bool,
    errors: &'a mut Errors,
}

/// What a receiver is, as far as spawning goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spawner {
    Tokio,
    ThreadBuilder,
}

impl Scan<'_> {
    fn raw_spawn(&mut self, tokens: TokenStream) {
        if !self.allow_raw_spawn {
            self.errors.push(syn::Error::new_spanned(tokens, RAW_SPAWN));
        }
    }

    fn bind(&mut self, name: String, is_spawner: bool) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.push((name, is_spawner));
        }
    }

    fn local_is_spawner(&self, name: &str) -> Option<bool> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|scope| scope.iter().rev())
            .find(|(bound, _)| bound == name)
            .map(|(_, is_spawner)| *is_spawner)
    }

    fn in_scope<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.scopes.push(Vec::new());
        let result = f(self);
        self.scopes.pop();
        result
    }

    /// Whether `path` names a raw spawn function.
    fn is_raw_spawn_path(&self, path: &Path) -> bool {
        let full = self.names.resolve(path);
        if path.segments.len() == 1 {
            // A bare `spawn` is raw only if the body imported it so, and nothing local shadows it.
            let name = path.segments[0].ident.to_string();
            return full.len() > 1 && is_raw_spawn_fn(&full) && !self.names.locals.contains(&name);
        }
        is_raw_spawn_fn(&full)
    }

    /// What `expr` evidently is: a tokio spawner, a thread builder, or nothing we can tell.
    fn spawner(&self, expr: &Expr) -> Option<Spawner> {
        match expr {
            Expr::Paren(inner) => self.spawner(&inner.expr),
            Expr::Group(inner) => self.spawner(&inner.expr),
            Expr::Reference(inner) => self.spawner(&inner.expr),
            Expr::Try(inner) => self.spawner(&inner.expr),
            Expr::MethodCall(call) if is_one_of(&call.method, SPAWNER_PRESERVING) => {
                self.spawner(&call.receiver)
            }
            Expr::Call(call) => match &*call.func {
                Expr::Path(func) => constructed_spawner(&self.names.resolve(&func.path)),
                _ => None,
            },
            Expr::Path(path) if path.qself.is_none() => {
                let ident = path.path.get_ident()?;
                self.local_is_spawner(&ident.to_string())?
                    .then_some(Spawner::Tokio)
            }
            _ => None,
        }
    }

    /// The tokens to point at if `expr` is a `catch_unwind` whose result is about to be dropped.
    fn catch_unwind(&self, expr: &Expr) -> Option<TokenStream> {
        match expr {
            Expr::Paren(inner) => self.catch_unwind(&inner.expr),
            Expr::Group(inner) => self.catch_unwind(&inner.expr),
            Expr::Await(inner) => self.catch_unwind(&inner.base),
            Expr::MethodCall(call) if call.method == "catch_unwind" => {
                let (dot, method) = (&call.dot_token, &call.method);
                Some(quote!(#dot #method))
            }
            Expr::MethodCall(call) if is_one_of(&call.method, &["ok", "is_ok", "is_err"]) => {
                self.catch_unwind(&call.receiver)
            }
            Expr::Call(call) => {
                let Expr::Path(func) = &*call.func else {
                    return None;
                };
                let full = self.names.resolve(&func.path);
                let is_catch_unwind = full.last().is_some_and(|last| last == "catch_unwind")
                    && (full.len() == 1 || full[full.len() - 2] == "panic");
                is_catch_unwind.then(|| func.to_token_stream())
            }
            _ => None,
        }
    }

    fn discarded_catch_unwind(&mut self, lead: TokenStream, expr: &Expr) {
        if let Some(call) = self.catch_unwind(expr) {
            self.errors.push(syn::Error::new_spanned(
                quote!(#lead #call),
                DISCARDED_CATCH_UNWIND,
            ));
        }
    }
}

impl<'ast> Visit<'ast> for Scan<'_> {
    /// Nested items are their own boundary (their `use`s were read in the first pass).
    fn visit_item(&mut self, _: &'ast Item) {}

    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.in_scope(|scan| visit::visit_block(scan, block));
    }

    fn visit_expr_closure(&mut self, closure: &'ast ExprClosure) {
        self.in_scope(|scan| visit::visit_expr_closure(scan, closure));
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.in_scope(|scan| visit::visit_arm(scan, arm));
    }

    /// Any other binding shadows a spawner of the same name.
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.bind(pat.ident.to_string(), false);
        visit::visit_pat_ident(self, pat);
    }

    fn visit_local(&mut self, local: &'ast Local) {
        let Some(init) = &local.init else {
            return visit::visit_local(self, local);
        };
        self.visit_expr(&init.expr);
        if let Some((_, diverge)) = &init.diverge {
            self.visit_expr(diverge);
        }
        let (pat, ty) = match &local.pat {
            Pat::Type(typed) => (&*typed.pat, Some(&*typed.ty)),
            pat => (pat, None),
        };
        match pat {
            Pat::Wild(wild) => {
                let (let_token, eq) = (&local.let_token, &init.eq_token);
                self.discarded_catch_unwind(quote!(#let_token #wild #eq), &init.expr);
            }
            Pat::Ident(ident) if ident.subpat.is_none() => {
                let is_spawner = self.spawner(&init.expr) == Some(Spawner::Tokio)
                    || ty.is_some_and(is_tokio_spawner_type);
                self.bind(ident.ident.to_string(), is_spawner);
            }
            other => self.visit_pat(other),
        }
    }

    fn visit_stmt(&mut self, stmt: &'ast Stmt) {
        match stmt {
            Stmt::Expr(Expr::Assign(assign), Some(_))
                if matches!(&*assign.left, Expr::Infer(_)) =>
            {
                let (left, eq) = (&assign.left, &assign.eq_token);
                self.discarded_catch_unwind(quote!(#left #eq), &assign.right);
            }
            Stmt::Expr(expr, Some(_)) => self.discarded_catch_unwind(TokenStream::new(), expr),
            _ => {}
        }
        visit::visit_stmt(self, stmt);
    }

    fn visit_expr_path(&mut self, path: &'ast ExprPath) {
        if path.qself.is_none() && self.is_raw_spawn_path(&path.path) {
            self.raw_spawn(path.path.to_token_stream());
        }
        visit::visit_expr_path(self, path);
    }

    fn visit_expr_method_call(&mut self, call: &'ast ExprMethodCall) {
        if is_one_of(&call.method, SPAWN_METHODS) && self.spawner(&call.receiver).is_some() {
            let (receiver, dot, method) = (&call.receiver, &call.dot_token, &call.method);
            self.raw_spawn(quote!(#receiver #dot #method));
        }
        visit::visit_expr_method_call(self, call);
    }

    /// Macro arguments that read as expressions (`println!`, `assert!`, `vec!`, `safe_go!`,
    /// ..) are searched too.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        for expr in macro_exprs(mac) {
            self.visit_expr(&expr);
        }
    }
}

/// The arguments of a macro invocation, if they read as comma-separated expressions.
fn macro_exprs(mac: &syn::Macro) -> Vec<Expr> {
    Punctuated::<Expr, Token![,]>::parse_terminated
        .parse2(mac.tokens.clone())
        .map(|exprs| exprs.into_iter().collect())
        .unwrap_or_default()
}

fn is_one_of(ident: &syn::Ident, names: &[&str]) -> bool {
    names.iter().any(|name| ident == name)
}

fn is_raw_spawn_fn(full: &[String]) -> bool {
    RAW_SPAWN_FNS.iter().any(|raw| raw.iter().eq(full.iter()))
}

/// The spawner a constructor call returns: `Handle::current()`, `Runtime::new()`,
/// `Builder::new_multi_thread()`, `JoinSet::new()`, `std::thread::Builder::new()`.
fn constructed_spawner(full: &[String]) -> Option<Spawner> {
    let [.., ty, constructor] = full else {
        return None;
    };
    let tokio = matches!(
        (ty.as_str(), constructor.as_str()),
        ("Handle", "current" | "try_current")
            | ("Runtime", "new")
            | ("Builder", "new_multi_thread" | "new_current_thread")
            | ("JoinSet" | "LocalSet", "new")
    );
    // `Handle::current()` is taken as tokio's; a longer path must say so.
    if tokio && (full.len() == 2 || full[0] == "tokio") {
        return Some(Spawner::Tokio);
    }
    let thread_builder =
        full.ends_with(&["thread".to_owned(), "Builder".to_owned(), "new".to_owned()])
            && (full.len() == 3 || full[0] == "std");
    thread_builder.then_some(Spawner::ThreadBuilder)
}

/// `tokio::runtime::Handle`, `&tokio::runtime::Runtime`, `tokio::task::JoinSet<T>`.
fn is_tokio_spawner_type(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => is_tokio_spawner_type(&reference.elem),
        Type::Paren(inner) => is_tokio_spawner_type(&inner.elem),
        Type::Path(path) if path.qself.is_none() => {
            let segments = &path.path.segments;
            segments.len() > 1
                && segments[0].ident == "tokio"
                && segments
                    .last()
                    .is_some_and(|last| is_one_of(&last.ident, TOKIO_SPAWNER_TYPES))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn check_body(body: TokenStream, allow_raw_spawn: bool) -> Vec<String> {
        let func = crate::item::parse(crate::model::MacroKind::Recover, body).unwrap();
        let mut errors = Errors::default();
        check(&func, allow_raw_spawn, &mut errors);
        match errors.finish(()) {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn raw_spawns(body: TokenStream) -> usize {
        let errors = check_body(body, false);
        assert!(errors.iter().all(|e| e == RAW_SPAWN), "{errors:?}");
        errors.len()
    }

    /// The raw spawns found in `fn f() { statements }`.
    fn spawns_in(statements: TokenStream) -> usize {
        raw_spawns(quote!(fn f() { #statements }))
    }

    #[test]
    fn path_spawns() {
        assert_eq!(spawns_in(quote!(tokio::spawn(async {});)), 1);
        assert_eq!(spawns_in(quote!(::tokio::task::spawn(async {});)), 1);
        assert_eq!(spawns_in(quote!(tokio::task::spawn_blocking(|| ());)), 1);
        assert_eq!(spawns_in(quote!(tokio::task::spawn_local(async {});)), 1);
        assert_eq!(spawns_in(quote!(std::thread::spawn(|| ());)), 1);
        assert_eq!(spawns_in(quote!(thread::spawn(|| ());)), 1);
        assert_eq!(spawns_in(quote!(let h = tokio::spawn::<F>(fut);)), 1);
        // Passed as a value.
        assert_eq!(spawns_in(quote!(futs.into_iter().map(tokio::spawn);)), 1);
    }

    #[test]
    fn imported_spawns() {
        assert_eq!(
            spawns_in(quote!(
                use tokio::spawn;
                spawn(async {});
            )),
            1
        );
        assert_eq!(
            spawns_in(quote!(
                use tokio::task::{self, spawn_blocking as sb};
                sb(|| ());
                task::spawn(x);
            )),
            2
        );
        assert_eq!(
            spawns_in(quote!(
                use std::thread;
                thread::spawn(|| ());
            )),
            1
        );
        assert_eq!(
            spawns_in(quote!(
                use tokio::task::*;
                spawn_local(x);
            )),
            1
        );
        assert_eq!(
            spawns_in(quote!(
                use tokio::task as t;
                t::spawn(x);
            )),
            1
        );
    }

    #[test]
    fn bare_spawn_that_is_not_tokio() {
        // Not imported from tokio: a function of the user's crate.
        assert_eq!(spawns_in(quote!(spawn(x);)), 0);
        assert_eq!(
            spawns_in(quote!(
                let spawn = |x| x;
                spawn(1);
            )),
            0
        );
        assert_eq!(
            spawns_in(quote!(
                fn spawn() {}
                spawn();
            )),
            0
        );
        assert_eq!(
            raw_spawns(quote!(
                fn f(spawn: fn()) {
                    spawn();
                }
            )),
            0
        );
        assert_eq!(
            spawns_in(quote!(
                use my::thread;
                thread::spawn(x);
            )),
            0
        );
        assert_eq!(spawns_in(quote!(task::spawn(x);)), 0);
    }

    #[test]
    fn method_spawns() {
        assert_eq!(spawns_in(quote!(Handle::current().spawn(x);)), 1);
        assert_eq!(
            spawns_in(quote!(tokio::runtime::Handle::current().spawn_blocking(x);)),
            1
        );
        assert_eq!(
            spawns_in(quote!(
                let rt = Runtime::new().unwrap();
                rt.spawn(x);
            )),
            1
        );
        assert_eq!(
            spawns_in(quote!(
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?;
                rt.handle().spawn(x);
            )),
            1
        );
        assert_eq!(
            spawns_in(quote!(
                let mut set = JoinSet::new();
                set.spawn(x);
            )),
            1
        );
        assert_eq!(
            spawns_in(quote!(std::thread::Builder::new().name(n).spawn(x);)),
            1
        );
        assert_eq!(
            raw_spawns(quote!(
                fn f(h: tokio::runtime::Handle) {
                    h.spawn(x);
                }
            )),
            1
        );
        assert_eq!(
            spawns_in(quote!(
                let h: tokio::runtime::Handle = get();
                h.spawn(x);
            )),
            1
        );
    }

    #[test]
    fn method_spawns_that_are_not_tokio() {
        assert_eq!(spawns_in(quote!(pool.spawn(x);)), 0);
        assert_eq!(
            spawns_in(quote!(
                let pool = Pool::new();
                pool.spawn(x);
            )),
            0
        );
        assert_eq!(spawns_in(quote!(my::Handle::current().spawn(x);)), 0);
        assert_eq!(
            spawns_in(quote!(Runtime::new().unwrap().block_on(p).spawn(x);)),
            0
        );
        assert_eq!(
            spawns_in(quote!(
                std::thread::scope(|s| {
                    s.spawn(x);
                });
            )),
            0
        );
        // Shadowed by a binding that is not a spawner.
        assert_eq!(
            spawns_in(quote!(
                let rt = Runtime::new()?;
                let rt = Pool::new();
                rt.spawn(x);
            )),
            0
        );
        assert_eq!(
            spawns_in(quote!(
                let rt = Runtime::new()?;
                pools.iter().for_each(|rt| rt.spawn(x));
            )),
            0
        );
        // An inner scope's binding does not leak out.
        assert_eq!(
            spawns_in(quote!(
                let rt = Pool::new();
                {
                    let rt = Runtime::new()?;
                }
                rt.spawn(x);
            )),
            0
        );
    }

    #[test]
    fn searched_and_not_searched() {
        assert_eq!(spawns_in(quote!(let g = move || tokio::spawn(x);)), 1);
        assert_eq!(
            spawns_in(quote!(if a {
                loop {
                    {
                        tokio::spawn(x);
                    }
                }
            })),
            1
        );
        assert_eq!(spawns_in(quote!(println!("{:?}", tokio::spawn(x));)), 1);
        assert_eq!(
            spawns_in(quote!(
                mruntime::safe_go!("a", "b", async move {
                    tokio::spawn(x);
                });
            )),
            1
        );
        assert_eq!(
            spawns_in(quote!(
                fn inner() {
                    tokio::spawn(x);
                }
            )),
            0
        );
        assert_eq!(
            spawns_in(quote!(
                impl A {
                    fn g() {
                        tokio::spawn(x);
                    }
                }
            )),
            0
        );
        assert_eq!(
            spawns_in(quote!(mruntime::safe_go!("a", "b", async move {});)),
            0
        );
    }

    #[test]
    fn allow_raw_spawn_opts_out() {
        assert!(
            check_body(
                quote!(
                    fn f() {
                        tokio::spawn(x);
                    }
                ),
                true
            )
            .is_empty()
        );
    }

    #[test]
    fn discarded_catch_unwind() {
        let count = |body| {
            let errors = check_body(body, false);
            assert!(
                errors.iter().all(|e| e == DISCARDED_CATCH_UNWIND),
                "{errors:?}"
            );
            errors.len()
        };
        assert_eq!(
            count(quote!(
                fn f() {
                    let _ = std::panic::catch_unwind(|| ());
                }
            )),
            1
        );
        assert_eq!(
            count(quote!(
                fn f() {
                    let _ = panic::catch_unwind(|| ());
                }
            )),
            1
        );
        assert_eq!(
            count(quote!(
                fn f() {
                    let _ = catch_unwind(|| ());
                }
            )),
            1
        );
        assert_eq!(
            count(quote!(
                fn f() {
                    let _: Result<(), _> = catch_unwind(|| ());
                }
            )),
            1
        );
        assert_eq!(
            count(quote!(
                fn f() {
                    _ = catch_unwind(|| ());
                }
            )),
            1
        );
        assert_eq!(
            count(quote!(
                fn f() {
                    catch_unwind(|| ()).ok();
                }
            )),
            1
        );
        assert_eq!(
            count(quote!(
                async fn f() {
                    let _ = fut.catch_unwind().await;
                }
            )),
            1
        );
        assert_eq!(
            count(quote!(
                fn f() {
                    use std::panic::catch_unwind as cu;
                    let _ = cu(|| ());
                }
            )),
            1
        );
        // Handled: not flagged.
        assert_eq!(
            count(quote!(
                fn f() {
                    let r = catch_unwind(|| ());
                    report(r);
                }
            )),
            0
        );
        assert_eq!(
            count(quote!(
                fn f() {
                    if catch_unwind(|| ()).is_err() {
                        log()
                    }
                }
            )),
            0
        );
        assert_eq!(
            count(quote!(
                fn f() -> R {
                    catch_unwind(|| ())
                }
            )),
            0
        );
    }
}
