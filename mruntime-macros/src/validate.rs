//! Every cross-check between the arguments and the item, producing the models that
//! [`expand`](crate::expand) turns into tokens without being able to fail.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::visit::Visit;
use syn::{
    Expr, FnArg, GenericArgument, Ident, Lifetime, Pat, Receiver, ReceiverKind, ReturnType, Stmt,
    Type,
};

use crate::args::Args;
use crate::errors::Errors;
use crate::item::returned_async_block;
use crate::model::{
    GoTask, GuardedFn, Label, MacroKind, Policy, Recover, RecoverBody, Ret, SafeGo, SafeTask, Site,
    strip_parens,
};
use crate::panicguard;
use crate::snippet::snippet;

/// Checks `#[recover]`'s arguments against its item.
pub(crate) fn recover(
    args: Args,
    mut errors: Errors,
    func: syn::Result<GuardedFn>,
) -> syn::Result<Recover> {
    let kind = MacroKind::Recover;
    let func = errors.ok(func);
    let policy = args.policy();

    if let (Some(on_panic), Policy::CrashProcess) = (&args.on_panic, policy) {
        let (key, handler) = (&on_panic.key, &on_panic.handler);
        errors.push(syn::Error::new_spanned(
            quote::quote!(#key = #handler),
            "`on_panic` is never called under CrashProcess: the process ends once the panic is \
             reported; remove `on_panic`, or use `policy = KeepRunning`",
        ));
    }

    let mut model = None;
    if let Some(func) = func {
        check_not_const(kind, &func, &mut errors);
        panicguard::check(&func, args.allow_raw_spawn.is_some(), &mut errors);
        let ret = Ret::of(&func.sig.output);
        let body = recover_body(&func);
        if let (RecoverBody::Stream { .. }, Some(on_panic)) = (&body, &args.on_panic) {
            let (key, handler) = (&on_panic.key, &on_panic.handler);
            errors.push(syn::Error::new_spanned(
                quote::quote!(#key = #handler),
                "`on_panic` does not apply to a function returning `impl Stream`: after a panic \
                 the stream yields one last item made by `mruntime::FromPanic` (for \
                 `Result<T, E>`: `Err(E::from(panicked))`) and ends; remove `on_panic`",
            ));
        }
        if policy == Policy::KeepRunning && args.on_panic.is_none() {
            // What the guard yields: the function's return type, or its future's output.
            match &body {
                RecoverBody::Sync | RecoverBody::Async => {
                    if let ReturnType::Type(_, ty) = &func.sig.output {
                        check_keep_running_ret(ty, &mut errors);
                    }
                }
                RecoverBody::ReturnsAsyncBlock {
                    output: Some(ty), ..
                } => {
                    check_keep_running_ret(ty, &mut errors);
                }
                RecoverBody::ReturnsAsyncBlock { output: None, .. }
                | RecoverBody::Stream { .. } => {}
            }
        }
        if let Some(site) = site(&args, Some(&func.sig.ident)) {
            model = Some(Recover {
                site,
                func,
                ret,
                on_panic: args.on_panic.map(|o| o.handler),
                body,
            });
        }
    }
    finish(errors, model)
}

/// Checks `#[safe_task]`'s arguments against its item.
pub(crate) fn safe_task(
    args: Args,
    mut errors: Errors,
    func: syn::Result<GuardedFn>,
) -> syn::Result<SafeTask> {
    let kind = MacroKind::SafeTask;
    let func = errors.ok(func);
    let mut model = None;
    if let Some(func) = func {
        check_not_const(kind, &func, &mut errors);
        check_static_args(&func, &mut errors);
        let ctx = context_arg(&func, &mut errors);
        panicguard::check(&func, args.allow_raw_spawn.is_some(), &mut errors);
        let ret = Ret::of(&func.sig.output);
        if let Some(site) = site(&args, Some(&func.sig.ident)) {
            model = Some(SafeTask {
                site,
                func,
                ret,
                restart: args.restart,
                group: args.group,
                health: args.health.is_some(),
                ctx,
            });
        }
    }
    finish(errors, model)
}

/// Checks `safe_go!`'s arguments.
pub(crate) fn safe_go(args: Args, mut errors: Errors) -> syn::Result<SafeGo> {
    let site = site(&args, None);
    let Args {
        future,
        restart,
        group,
        context,
        ..
    } = args;
    let task = future.and_then(|future| errors.ok(go_task(future, restart.is_some())));
    let model = match (site, task) {
        (Some(site), Some(task)) => Some(SafeGo {
            site,
            task,
            restart,
            group,
            context,
        }),
        _ => None,
    };
    finish(errors, model)
}

/// What `safe_go!`'s last argument is: a closure receives the task's context; under
/// `restart(..)` it must make a new future for each attempt, so a future is an error.
fn go_task(future: Expr, restart: bool) -> syn::Result<GoTask> {
    match &future {
        Expr::Closure(closure) if closure.inputs.len() != 1 => {
            let fix = if restart {
                ""
            } else {
                ", or pass the future itself (`async move { .. }`)"
            };
            let inputs = &closure.inputs;
            let (or1, or2) = (closure.inputs_begin, closure.inputs_end);
            Err(syn::Error::new_spanned(
                quote::quote!(#or1 #inputs #or2),
                format!(
                    "the closure of safe_go! receives one argument, the task's `TaskContext`: \
                     write `move |ctx| async move {{ .. }}` (`|_ctx|` if it does not use it){fix}"
                ),
            ))
        }
        Expr::Closure(_) => Ok(GoTask::WithContext(future)),
        Expr::Async(block) if restart => {
            let (token, capture) = (&block.async_token, &block.capture);
            Err(syn::Error::new_spanned(
                quote::quote!(#token #capture),
                "safe_go! with `restart(..)` needs a closure that makes a new future for every \
                 attempt, not a future (a future runs only once): write \
                 `move |ctx| async move { .. }`, cloning inside the closure what each attempt \
                 needs",
            ))
        }
        _ if restart => Ok(GoTask::WithContext(future)),
        _ => Ok(GoTask::Future(future)),
    }
}

fn finish<T>(errors: Errors, model: Option<T>) -> syn::Result<T> {
    // Every path that leaves the model empty has recorded why, so the fallback error below
    // only guards against a bug in this crate.
    errors.finish(model)?.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "mruntime-macros could not read these arguments; please report this as a bug",
        )
    })
}

/// The site from the arguments; `name` defaults to the function's name.
fn site(args: &Args, fn_name: Option<&Ident>) -> Option<Site> {
    let component = args.component.clone()?;
    let name = match (&args.name, fn_name) {
        (Some(name), _) => name.clone(),
        (None, Some(ident)) => Label::Text(ident.unraw().to_string()),
        (None, None) => return None,
    };
    let policy_path = args
        .policy
        .as_ref()
        .map(|arg| arg.path.clone())
        .filter(|path| path.segments.len() > 1);
    Some(Site {
        component,
        name,
        policy: args.policy(),
        policy_path,
    })
}

fn check_not_const(kind: MacroKind, func: &GuardedFn, errors: &mut Errors) {
    if let Some(constness) = &func.sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            format!(
                "{} cannot be applied to a `const fn`: a panic cannot be caught during const \
                 evaluation, and the guard is not const; remove `const` or the attribute",
                kind.display()
            ),
        ));
    }
}

/// Under KeepRunning without `on_panic` the function must have a value to return after a
/// panic. Most return types are checked by the compiler through `FromPanic`; the two that
/// can never work get a precise message here.
fn check_keep_running_ret(ty: &Type, errors: &mut Errors) {
    if let Type::ImplTrait(impl_trait) = strip_parens(ty)
        && impl_trait.bounds.iter().any(is_future_bound)
    {
        // `-> impl Future<Output = T> { load() }`: the future is built elsewhere, out of reach.
        errors.push(syn::Error::new_spanned(
            ty,
            "#[recover] guards the future a function returns only when it builds it: write an \
             `async fn` (`async fn load_all() -> T`), or end the body in an async block \
             (`async move { load().await }`)",
        ));
        return;
    }
    let what = match strip_parens(ty) {
        Type::Never(_) => "a `-> !` function has no value to return",
        Type::ImplTrait(_) => "a bare `impl Trait` has no value of its hidden type to return",
        _ => return,
    };
    errors.push(syn::Error::new_spanned(
        ty,
        format!(
            "#[recover] under KeepRunning returns after a recovered panic, but {what}; return \
             `Option<..>` or `Result<.., E>` (E: From<mruntime::Panicked>), give \
             `on_panic = path::to_fn`, or use `policy = CrashProcess`"
        ),
    ));
}

/// `Future<Output = T>`, `core::future::Future<..>`.
fn is_future_bound(bound: &syn::TypeParamBound) -> bool {
    is_bound_named(bound, "Future")
}

/// Whether `bound` is the trait `name` (by its last path segment).
fn is_bound_named(bound: &syn::TypeParamBound, name: &str) -> bool {
    match bound {
        syn::TypeParamBound::Trait(bound) => bound
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == name),
        _ => false,
    }
}

/// `-> impl Stream<Item = ..>` (`futures::Stream`, `futures_core::Stream`, `tokio_stream::Stream`).
fn returns_stream(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => matches!(
            strip_parens(ty),
            Type::ImplTrait(impl_trait)
                if impl_trait.bounds.iter().any(|bound| is_bound_named(bound, "Stream"))
        ),
        ReturnType::Default => false,
    }
}

/// What runs the user's code: a stream the function returns, the future a sync function builds
/// as its last statement (as `#[async_trait]` does), or the body itself.
fn recover_body(func: &GuardedFn) -> RecoverBody {
    if returns_stream(&func.sig.output) {
        return RecoverBody::Stream {
            is_async: func.sig.asyncness.is_some(),
        };
    }
    if func.sig.asyncness.is_some() {
        return RecoverBody::Async;
    }
    let last = func
        .block
        .stmts
        .iter()
        .enumerate()
        .rev()
        .find_map(|(index, stmt)| match stmt {
            Stmt::Expr(expr, None) => Some((index, expr)),
            _ => None,
        });
    let Some((stmt, expr)) = last else {
        return RecoverBody::Sync;
    };
    if returned_async_block(expr).is_none() {
        return RecoverBody::Sync;
    }
    RecoverBody::ReturnsAsyncBlock {
        stmt,
        output: future_output(&func.sig.output).map(Box::new),
    }
}

/// The `Output = T` of a returned `impl Future` or `Pin<Box<dyn Future>>`.
fn future_output(output: &ReturnType) -> Option<Type> {
    struct FindOutput(Option<Type>);
    impl<'ast> Visit<'ast> for FindOutput {
        fn visit_generic_argument(&mut self, arg: &'ast GenericArgument) {
            match arg {
                GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                    self.0.get_or_insert_with(|| assoc.ty.clone());
                }
                _ => syn::visit::visit_generic_argument(self, arg),
            }
        }
    }
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let mut find = FindOutput(None);
    find.visit_type(ty);
    find.0
}

/// The argument that receives the task's context: the one whose type is `TaskContext` (by its
/// last path segment: `TaskContext`, `mruntime::TaskContext`). At most one.
fn context_arg(func: &GuardedFn, errors: &mut Errors) -> Option<usize> {
    let mut found: Option<(usize, String)> = None;
    for (index, arg) in func.sig.inputs.iter().enumerate() {
        let FnArg::Typed(arg) = arg else { continue };
        if !is_task_context(&arg.ty) {
            continue;
        }
        match &found {
            None => found = Some((index, arg_name(&arg.pat))),
            Some((_, first)) => errors.push(syn::Error::new_spanned(
                arg,
                format!(
                    "#[safe_task] takes at most one `TaskContext` argument ({first} is the \
                     parent the task's own context is derived from); remove this one, or take a \
                     `CancellationToken` for a second signal"
                ),
            )),
        }
    }
    found.map(|(index, _)| index)
}

/// `TaskContext`, `mruntime::TaskContext`: a path whose last segment is `TaskContext`.
fn is_task_context(ty: &Type) -> bool {
    match strip_parens(ty) {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().is_some_and(|segment| {
                segment.ident == "TaskContext" && segment.arguments.is_none()
            })
        }
        _ => false,
    }
}

/// "argument `name`" for messages.
fn arg_name(pat: &Pat) -> String {
    match pat {
        Pat::Ident(pat) => format!("argument `{}`", pat.ident),
        _ => "this argument".to_owned(),
    }
}

/// A `#[safe_task]`'s arguments move into a task that outlives the call: none may borrow.
fn check_static_args(func: &GuardedFn, errors: &mut Errors) {
    for arg in &func.sig.inputs {
        match arg {
            FnArg::Receiver(receiver) => check_receiver(receiver, errors),
            FnArg::Typed(arg) => {
                if let Type::Reference(reference) = strip_parens(&arg.ty)
                    && is_task_context(&reference.elem)
                {
                    errors.push(syn::Error::new_spanned(
                        &arg.ty,
                        format!(
                            "#[safe_task] {} borrows (`{}`), but the task runs after the call \
                             returns: take the parent context by value, `{}: {}` (callers pass \
                             `group.context()` or `parent.clone()`); the body receives the task's \
                             own context, derived from it",
                            arg_name(&arg.pat),
                            snippet(&arg.ty),
                            pat_text(&arg.pat),
                            snippet(&reference.elem),
                        ),
                    ));
                } else if let Some(borrow) = find_borrow(&arg.ty) {
                    // A reference is pointed at itself; a lifetime, through its whole type.
                    let borrow = if borrow.to_string().starts_with('\'') {
                        arg.ty.to_token_stream()
                    } else {
                        borrow
                    };
                    let name = arg_name(&arg.pat);
                    errors.push(syn::Error::new_spanned(
                        borrow,
                        format!(
                            "#[safe_task] {name} borrows (`{}`), but the task runs after the call \
                             returns, so every argument must be `'static`; take an owned type \
                             (`String`, `Vec<T>`, `Box<T>`, ..) or share it with `Arc<T>`",
                            snippet(&arg.ty)
                        ),
                    ));
                }
            }
        }
    }
}

fn check_receiver(receiver: &Receiver, errors: &mut Errors) {
    let borrowed = match &receiver.kind {
        ReceiverKind::Reference(and, lifetime, mutability) => {
            let is_static = lifetime.as_ref().is_some_and(|l| l.ident == "static");
            (!is_static).then(|| {
                let mut tokens = and.to_token_stream();
                lifetime.to_tokens(&mut tokens);
                mutability.to_tokens(&mut tokens);
                receiver.self_token.to_tokens(&mut tokens);
                tokens
            })
        }
        ReceiverKind::Typed(_, ty) => find_borrow(ty).map(|_| receiver.to_token_stream()),
        _ => None,
    };
    if let Some(tokens) = borrowed {
        errors.push(syn::Error::new_spanned(
            &tokens,
            format!(
                "#[safe_task] cannot borrow `self` (`{}`): the task runs after the call returns; \
                 take `self: Arc<Self>` (or `self` by value)",
                snippet(&tokens)
            ),
        ));
    }
}

/// A pattern as the user wrote it, for messages (`ctx`, `_ctx`).
fn pat_text(pat: &Pat) -> String {
    match pat {
        Pat::Ident(pat) => pat.ident.to_string(),
        _ => "ctx".to_owned(),
    }
}

/// The first non-`'static` borrow in a type, outside higher-ranked positions (`fn(&str)`,
/// `Fn(&str)`, `for<'a> ..`), whose lifetimes do not tie the value to the caller.
fn find_borrow(ty: &Type) -> Option<TokenStream> {
    struct FindBorrow {
        found: Option<TokenStream>,
        bound: Vec<Ident>,
    }
    impl<'ast> Visit<'ast> for FindBorrow {
        fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
            if self.found.is_some() {
                return;
            }
            match &reference.lifetime {
                None => self.found = Some(reference.to_token_stream()),
                Some(lifetime) => self.visit_lifetime(lifetime),
            }
            if self.found.is_some() {
                self.found = Some(reference.to_token_stream());
            } else {
                self.visit_type(&reference.elem);
            }
        }
        fn visit_lifetime(&mut self, lifetime: &'ast Lifetime) {
            if self.found.is_none()
                && lifetime.ident != "static"
                && !self.bound.contains(&lifetime.ident)
            {
                self.found = Some(lifetime.to_token_stream());
            }
        }
        fn visit_type_fn_ptr(&mut self, _: &'ast syn::TypeFnPtr) {}
        fn visit_parenthesized_generic_arguments(
            &mut self,
            _: &'ast syn::ParenthesizedGenericArguments,
        ) {
        }
        fn visit_trait_bound(&mut self, bound: &'ast syn::TraitBound) {
            let lifetimes: Vec<Ident> = bound
                .lifetimes
                .iter()
                .flat_map(|bound| bound.lifetimes.iter())
                .filter_map(|param| match param {
                    syn::GenericParam::Lifetime(param) => Some(param.lifetime.ident.clone()),
                    _ => None,
                })
                .collect();
            let depth = self.bound.len();
            self.bound.extend(lifetimes);
            syn::visit::visit_path(self, &bound.path);
            self.bound.truncate(depth);
        }
    }
    let mut find = FindBorrow {
        found: None,
        bound: Vec::new(),
    };
    find.visit_type(ty);
    find.found.map(|tokens| {
        // Point at the whole reference type or lifetime, never at nothing.
        if tokens.is_empty() {
            ty.to_token_stream()
        } else {
            tokens
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn borrow(ty: &str) -> Option<String> {
        let ty: Type = syn::parse_str(ty).unwrap();
        find_borrow(&ty).map(|tokens| snippet(&tokens))
    }

    #[test]
    fn borrowed_types() {
        assert_eq!(borrow("&str").as_deref(), Some("&str"));
        assert_eq!(borrow("&mut Vec<u8>").as_deref(), Some("&mut Vec<u8>"));
        assert_eq!(borrow("&'a str").as_deref(), Some("&'a str"));
        assert_eq!(borrow("Vec<&str>").as_deref(), Some("&str"));
        assert_eq!(borrow("Cow<'a, str>").as_deref(), Some("'a"));
        assert_eq!(borrow("Formatter<'_>").as_deref(), Some("'_"));
        assert_eq!(borrow("Box<dyn Error + 'a>").as_deref(), Some("'a"));
        assert_eq!(
            borrow("impl Future<Output = ()> + 'a").as_deref(),
            Some("'a")
        );
        assert_eq!(borrow("(u32, &'static str, &u8)").as_deref(), Some("&u8"));
    }

    #[test]
    fn owned_and_static_types() {
        for ty in [
            "String",
            "Arc<Mutex<Vec<u8>>>",
            "&'static str",
            "&'static mut [u8]",
            "Cow<'static, str>",
            "fn(&str) -> &str",
            "Box<dyn Fn(&str) -> usize + Send + 'static>",
            "impl for<'a> Fn(&'a str) + Send + 'static",
            "Box<dyn for<'a> Handler<'a>>",
            "T",
        ] {
            assert_eq!(borrow(ty), None, "{ty}");
        }
    }

    #[test]
    fn async_blocks_that_hold_the_body() {
        let expr = |text: &str| syn::parse_str::<Expr>(text).unwrap();
        assert!(returned_async_block(&expr("Box::pin(async move { 1 })")).is_some());
        assert!(returned_async_block(&expr("::std::boxed::Box::pin(async { 1 })")).is_some());
        assert!(returned_async_block(&expr("async move { 1 }")).is_some());
        assert!(returned_async_block(&expr("Box::pin(fut)")).is_none());
        assert!(returned_async_block(&expr("Arc::pin(async {})")).is_none());
        assert!(returned_async_block(&expr("Box::new(async {})")).is_none());
    }
}
