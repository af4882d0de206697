//! `#[safe_task]`: calling the function spawns its body as a guarded task and returns the
//! task's `TaskHandle`.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Block, ExprPath, FnArg, Item, Macro, Pat, PatIdent, PatType, ReceiverKind,
    ReturnType, Signature, Token, Type,
};

use super::{
    group_value, local, output_type, restart_static, site_ref, site_static, typed_body, user_fn,
};
use crate::model::{GuardedFn, Ret, SafeTask};

/// Without `restart(..)`, `group = ..` or a `TaskContext` argument (zero added cost):
///
/// ```text
/// #attrs #vis fn NAME(ARGS) -> ::mruntime::__private::TaskHandle<RET> {
///     static __MRUNTIME_SITE: Site = ..;
///     SpawnFuture::spawn_guarded(async move { ARG REBINDINGS; TYPED_BODY }, &__MRUNTIME_SITE) // async fn
///     spawn_blocking(&__MRUNTIME_SITE, move || { ARG REBINDINGS; TYPED_BODY }) // sync fn
/// }
/// ```
///
/// Every argument is moved into the task, as an `async fn` moves its arguments into its future:
/// an argument the body never mentions (a `_permit`, a drop guard) lives as long as the task,
/// not just until the call returns.
///
/// With any of them, see [`context_task`].
pub(crate) fn safe_task(model: &SafeTask) -> TokenStream {
    if model.needs_context() {
        return context_task(model);
    }
    let block = &model.func.block;
    let (sig, rebind) = task_signature(&model.func.sig, &model.ret);
    let site = site_static(&model.site);
    let site_ref = site_ref();
    let body = typed_body(&model.ret, rebind, block);
    let spawn = match &model.func.sig.asyncness {
        // Errors about the task (not `Send`, not `'static`) point at `async`/`fn`.
        Some(asyncness) => quote_spanned! {asyncness.span=>
            ::mruntime::__private::SpawnFuture::spawn_guarded(async move #body, #site_ref)
        },
        None => quote_spanned! {model.func.sig.fn_token.span=>
            ::mruntime::__private::spawn_blocking(#site_ref, move || #body)
        },
    };
    spawning_fn(&model.func, &sig, quote!(#site #spawn))
}

/// With `restart(..)`, `group = ..` and/or a `ctx: TaskContext` argument: the task's body
/// receives the task's own context, derived from the `ctx` argument (the parent) if any.
///
/// ```text
/// #attrs #vis fn NAME(ARGS) -> ::mruntime::__private::TaskHandle<RET> {
///     static __MRUNTIME_SITE: Site = ..;
///     static __MRUNTIME_RESTART: RestartPolicy = RestartPolicy::from_millis(..); // restart
///     let __mruntime_group: TaskGroup = { ARG VIEWS; TaskGroup::clone(&(GROUP)) }; // group
///     // no restart: the body runs once
///     spawn_with_context(&__MRUNTIME_SITE, PARENT, GROUP,
///         move |__mruntime_ctx| async move { ARG REBINDINGS; let ctx = __mruntime_ctx; TYPED_BODY })
///     // restart: the closure makes each attempt, from clones of the arguments
///     spawn_supervised(&__MRUNTIME_SITE, &__MRUNTIME_RESTART, PARENT, GROUP,
///         move |__mruntime_ctx| { ARG CLONES; async move { ARG REBINDINGS; let ctx = ..; TYPED_BODY } })
///     // sync fns: spawn_blocking_with_context / spawn_blocking_supervised, the body in the closure
/// }
/// ```
///
/// `PARENT` is `Some(context(&ctx))` with a `TaskContext` argument, else `None`; `GROUP` is
/// `Some(&__mruntime_group)` or `None`. Under `restart(..)` a by-value `self` is cloned too, and
/// the body's `self` renamed to that clone.
fn context_task(model: &SafeTask) -> TokenStream {
    let GuardedFn { sig, block, .. } = &model.func;
    let args = TaskArgs::new(sig, model.ctx);
    let derived = local("__mruntime_ctx");

    let (take_self, clones, block) = match &model.restart {
        Some(_) => {
            let mut clones: TokenStream =
                args.params.iter().map(Param::clone_for_attempt).collect();
            match &args.receiver {
                Some(receiver) => {
                    clones.extend(receiver.clone_for_attempt());
                    (receiver.take(), clones, rename_self(block))
                }
                None => (TokenStream::new(), clones, block.clone()),
            }
        }
        None => (TokenStream::new(), TokenStream::new(), block.clone()),
    };
    // An argument the group expression reads is used, even if the body does not read it.
    let in_group = model.group.as_ref().map(idents_in).unwrap_or_default();
    let mut rebind: TokenStream = args
        .params
        .iter()
        .map(|param| param.rebind(param.named_in(&in_group)))
        .collect();
    if let Some(ctx) = &args.ctx {
        rebind.extend(ctx.bind_derived(&derived));
    }

    let site = site_static(&model.site);
    let site_ref = site_ref();
    let restart = model.restart.as_ref().map(|restart| {
        let policy = restart_static(restart);
        let clone_trait = clone_trait();
        quote!(#policy #clone_trait)
    });
    let parent = match &args.ctx {
        Some(ctx) => {
            let param = &ctx.name;
            quote!(::core::option::Option::Some(::mruntime::__private::context(&#param)))
        }
        None => quote!(::core::option::Option::None),
    };
    let (group_let, group) = match &model.group {
        Some(expr) => {
            let views: TokenStream = args.params.iter().map(Param::view).collect();
            let value = group_value(views, expr);
            let group = local("__mruntime_group");
            (
                quote!(let #group: ::mruntime::__private::TaskGroup = #value;),
                quote!(::core::option::Option::Some(&#group)),
            )
        }
        None => (TokenStream::new(), quote!(::core::option::Option::None)),
    };

    // `health` without `restart(..)`: the same, the task a health component.
    let (spawn_once, spawn_blocking_once) = if model.health {
        (quote!(spawn_component), quote!(spawn_blocking_component))
    } else {
        (
            quote!(spawn_with_context),
            quote!(spawn_blocking_with_context),
        )
    };
    let spawn = match (&sig.asyncness, &model.restart) {
        (Some(asyncness), None) => {
            let body = typed_body(&model.ret, rebind, &block);
            quote_spanned! {asyncness.span=>
                ::mruntime::__private::#spawn_once(
                    #site_ref, #parent, #group, move |#derived| async move #body,
                )
            }
        }
        (Some(asyncness), Some(restart)) => {
            let body = typed_body(&model.ret, rebind, &block);
            let restart_ref = super::restart_ref(restart);
            quote_spanned! {asyncness.span=>
                ::mruntime::__private::spawn_supervised(
                    #site_ref, #restart_ref, #parent, #group,
                    move |#derived| { #clones async move #body },
                )
            }
        }
        (None, None) => {
            let body = typed_body(&model.ret, rebind, &block);
            quote_spanned! {sig.fn_token.span=>
                ::mruntime::__private::#spawn_blocking_once(
                    #site_ref, #parent, #group, move |#derived| #body,
                )
            }
        }
        (None, Some(restart)) => {
            // The clones run first in each attempt; `return` in the body leaves the attempt.
            let mut prelude = clones;
            prelude.extend(rebind);
            let body = typed_body(&model.ret, prelude, &block);
            let restart_ref = super::restart_ref(restart);
            quote_spanned! {sig.fn_token.span=>
                ::mruntime::__private::spawn_blocking_supervised(
                    #site_ref, #restart_ref, #parent, #group, move |#derived| #body,
                )
            }
        }
    };
    let mut sig = args.sig;
    set_task_output(&mut sig, &model.ret);
    spawning_fn(
        &model.func,
        &sig,
        quote!(#site #restart #group_let #take_self #spawn),
    )
}

/// The function that spawns the task. `#[track_caller]`: a spawn outside a runtime panics at the
/// line that called the function.
fn spawning_fn(func: &GuardedFn, sig: &Signature, body: TokenStream) -> TokenStream {
    user_fn(func, quote!(#[track_caller]), sig, body)
}

/// The signature of the expanded function (sync, returning `TaskHandle<RET>`, arguments
/// renamed where a pattern cannot be rebound) and the statements that move every argument into
/// the task.
pub(crate) fn task_signature(sig: &Signature, ret: &Ret) -> (Signature, TokenStream) {
    let args = TaskArgs::new(sig, None);
    let mut sig = args.sig;
    set_task_output(&mut sig, ret);
    let rebind = args
        .params
        .iter()
        .map(|param| param.rebind(false))
        .collect();
    (sig, rebind)
}

fn set_task_output(sig: &mut Signature, ret: &Ret) {
    let output = output_type(ret);
    let arrow = match &sig.output {
        ReturnType::Type(arrow, _) => *arrow,
        ReturnType::Default => Default::default(),
    };
    sig.output = ReturnType::Type(
        arrow,
        Box::new(syn::parse_quote!(::mruntime::__private::TaskHandle<#output>)),
    );
    sig.asyncness = None;
    sig.constness = None;
}

/// The arguments of a task fn as the expansion moves them into the task.
struct TaskArgs {
    /// The expanded signature: every typed argument renamed to its hygienic parameter (the
    /// output is changed by [`set_task_output`]).
    sig: Signature,
    /// The typed arguments, but the context.
    params: Vec<Param>,
    /// The `TaskContext` argument.
    ctx: Option<Param>,
    /// A by-value receiver (`self`, `self: Arc<Self>`, ..), not a borrowed one.
    receiver: Option<ValueReceiver>,
}

impl TaskArgs {
    /// `ctx`: the index of the `TaskContext` argument.
    fn new(sig: &Signature, ctx: Option<usize>) -> Self {
        let mut new_sig = sig.clone();
        let mut params = Vec::new();
        let mut context = None;
        let mut receiver = None;
        let mut inputs = Punctuated::new();
        for (index, pair) in sig.inputs.pairs().enumerate() {
            let (arg, comma) = pair.into_tuple();
            let arg = match arg {
                FnArg::Typed(typed) => {
                    let (param, renamed) = Param::new(index, typed);
                    if ctx == Some(index) {
                        context = Some(param);
                    } else {
                        params.push(param);
                    }
                    FnArg::Typed(renamed)
                }
                FnArg::Receiver(arg) => {
                    if !matches!(arg.kind, ReceiverKind::Reference(..)) {
                        let ty = match &arg.kind {
                            ReceiverKind::Typed(_, ty) => super::erase_impl_trait(ty),
                            _ => quote_spanned!(arg.self_token.span=> Self),
                        };
                        receiver = Some(ValueReceiver {
                            self_token: arg.self_token,
                            mutability: arg.mutability,
                            ty,
                        });
                    }
                    FnArg::Receiver(arg.clone())
                }
            };
            inputs.push_value(arg);
            if let Some(comma) = comma {
                inputs.push_punct(*comma);
            }
        }
        new_sig.inputs = inputs;
        TaskArgs {
            sig: new_sig,
            params,
            ctx: context,
            receiver,
        }
    }
}

/// One typed argument, renamed in the signature to `name` and bound again inside the task.
struct Param {
    /// The parameter in the expanded signature: the user's name with the macro's hygiene, or
    /// `__mruntime_argN` for a pattern.
    name: Ident,
    /// `#[cfg]`/`#[cfg_attr]` of the argument, repeated on every statement about it.
    cfg: Vec<Attribute>,
    binding: Binding,
    ty: Type,
    /// The user's pattern, where errors about the argument point.
    span: Span,
}

enum Binding {
    /// `name` or `mut name`.
    Ident(Option<Token![mut]>, Ident),
    /// Any other pattern (`(a, b)`, `Point { x, y }`), bound from the parameter.
    Pattern(Box<Pat>),
    /// `_`: binds nothing; the value stays in the parameter until the task ends.
    Wild,
}

impl Param {
    /// `mut name: T` -> parameter `name: T` (macro hygiene), bound by `let mut name = name;`;
    /// `(a, b): (A, B)` -> `__mruntime_arg1: (A, B)`, bound by
    /// `let __mruntime_arg1 = __mruntime_arg1; let (a, b) = __mruntime_arg1;`.
    fn new(index: usize, arg: &PatType) -> (Param, PatType) {
        let cfg: Vec<Attribute> = arg
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr"))
            .cloned()
            .collect();
        let (name, binding) = match &*arg.pat {
            Pat::Ident(PatIdent {
                by_ref: None,
                subpat: None,
                mutability,
                ident,
                ..
            }) => {
                // The parameter keeps its name (for docs) with the macro's hygiene; the body sees
                // the user's binding, which lives as long as the task even if the body never
                // reads it (a `_permit`), as in an `async fn`.
                let name = Ident::new(
                    &ident.to_string(),
                    Span::mixed_site().located_at(ident.span()),
                );
                (name, Binding::Ident(*mutability, ident.clone()))
            }
            pat => {
                let name = format_ident!("__mruntime_arg{}", index, span = Span::mixed_site());
                let binding = match pat {
                    Pat::Wild(_) => Binding::Wild,
                    pat => Binding::Pattern(Box::new(pat.clone())),
                };
                (name, binding)
            }
        };
        let mut renamed = arg.clone();
        renamed.pat = Box::new(Pat::Ident(PatIdent {
            attrs: Vec::new(),
            by_ref: None,
            mutability: None,
            ident: name.clone(),
            subpat: None,
        }));
        let param = Param {
            name,
            cfg,
            binding,
            ty: (*arg.ty).clone(),
            span: arg.pat.span(),
        };
        (param, renamed)
    }

    /// Moves the parameter into the task and binds the user's pattern to it; `used` when the
    /// `group = ..` expression reads it (no "unused variable" then).
    fn rebind(&self, used: bool) -> TokenStream {
        let (cfg, name) = (&self.cfg, &self.name);
        let allow_unused = used.then(|| quote!(#[allow(unused_variables)]));
        match &self.binding {
            Binding::Ident(mutability, ident) => quote! {
                #(#cfg)*
                #allow_unused
                #[allow(clippy::no_effect_underscore_binding)]
                let #mutability #ident = #name;
            },
            Binding::Pattern(pat) => quote! {
                #(#cfg)* let #name = #name;
                #(#cfg)* let #pat = #name;
            },
            Binding::Wild => quote!(#(#cfg)* let #name = #name;),
        }
    }

    /// Whether the argument is a simple name found in `idents`.
    fn named_in(&self, idents: &[String]) -> bool {
        match &self.binding {
            Binding::Ident(_, ident) => idents.iter().any(|name| ident == name),
            Binding::Pattern(_) | Binding::Wild => false,
        }
    }

    /// The context argument: binds the user's pattern to the task's own (derived) context,
    /// typed as the user wrote it (a type that is not mruntime's `TaskContext` is a mismatch
    /// there).
    fn bind_derived(&self, derived: &Ident) -> TokenStream {
        let (cfg, ty) = (&self.cfg, &self.ty);
        match &self.binding {
            Binding::Ident(mutability, ident) => quote! {
                #(#cfg)*
                #[allow(clippy::no_effect_underscore_binding)]
                let #mutability #ident: #ty = #derived;
            },
            Binding::Pattern(pat) => quote!(#(#cfg)* let #pat: #ty = #derived;),
            Binding::Wild => quote!(#(#cfg)* let _: #ty = #derived;),
        }
    }

    /// Under `restart(..)`, at the start of each attempt: `let name = clone_arg::<T>(&name);`.
    fn clone_for_attempt(&self) -> TokenStream {
        let (cfg, name) = (&self.cfg, &self.name);
        let clone = clone_arg(self.span, name, super::erase_impl_trait(&self.ty));
        quote!(#(#cfg)* let #name = #clone;)
    }

    /// For the `group = ..` expression: the argument by reference under the user's name (simple
    /// names only; patterns are not visible there).
    fn view(&self) -> TokenStream {
        let (cfg, name) = (&self.cfg, &self.name);
        match &self.binding {
            Binding::Ident(_, ident) => quote! {
                #(#cfg)*
                #[allow(unused_variables, clippy::no_effect_underscore_binding)]
                let #ident = &#name;
            },
            Binding::Pattern(_) | Binding::Wild => TokenStream::new(),
        }
    }
}

/// Every identifier in an expression's tokens (macro arguments included).
fn idents_in(expr: &syn::Expr) -> Vec<String> {
    fn walk(tokens: TokenStream, idents: &mut Vec<String>) {
        for tree in tokens {
            match tree {
                TokenTree::Ident(ident) => idents.push(ident.to_string()),
                TokenTree::Group(group) => walk(group.stream(), idents),
                TokenTree::Punct(_) | TokenTree::Literal(_) => {}
            }
        }
    }
    let mut idents = Vec::new();
    walk(quote!(#expr), &mut idents);
    idents
}

/// `self`, `mut self`, `self: Arc<Self>`: a receiver the task owns.
struct ValueReceiver {
    self_token: Token![self],
    mutability: Option<Token![mut]>,
    /// `Self`, or the type written (`Arc<Self>`).
    ty: TokenStream,
}

impl ValueReceiver {
    /// Before the spawn: `let __mruntime_self_param = self;` (so that the clones below name a
    /// local, not the signature's `self`).
    fn take(&self) -> TokenStream {
        let param = self.param();
        let self_token = &self.self_token;
        quote!(let #param = #self_token;)
    }

    /// At the start of each attempt: `let __mruntime_self = clone_arg::<Self>(&__mruntime_self_param);`.
    fn clone_for_attempt(&self) -> TokenStream {
        let this = self_clone(self.self_token.span);
        let mutability = &self.mutability;
        let clone = clone_arg(self.self_token.span, &self.param(), self.ty.clone());
        quote!(let #mutability #this = #clone;)
    }

    fn param(&self) -> Ident {
        Ident::new(
            "__mruntime_self_param",
            Span::mixed_site().located_at(self.self_token.span),
        )
    }
}

/// The trait through which each attempt clones the arguments, declared in the expanded function
/// so that a non-`Clone` argument gets a message saying why it must be `Clone`, in words of the
/// user's code rather than of mruntime's internals.
fn clone_trait() -> TokenStream {
    let name = clone_trait_name(Span::call_site());
    quote! {
        #[diagnostic::on_unimplemented(
            message = "`{Self}` must be `Clone` to restart the task: each attempt gets its own clone of the arguments",
            label = "cloned for each attempt, but `{Self}` is not `Clone`",
            note = "implement or derive `Clone` for it, share it as `Arc<..>`, or remove `restart(..)`"
        )]
        trait #name: ::core::marker::Sized {
            fn clone_for_attempt(&self) -> Self;
        }
        impl<T: ::core::clone::Clone> #name for T {
            #[inline]
            fn clone_for_attempt(&self) -> Self {
                ::core::clone::Clone::clone(self)
            }
        }
    }
}

fn clone_trait_name(span: Span) -> Ident {
    Ident::new("CloneForEachAttempt", Span::mixed_site().located_at(span))
}

/// `<TY as CloneForEachAttempt>::clone_for_attempt(&VALUE)`, every token at `span` (the user's
/// argument) with the macro's hygiene, so that "`TY` must be `Clone` to restart the task" points
/// at the argument. The type is explicit (`_` for an `impl Trait`) so that no "consider
/// borrowing" suggestion is made: a reference would be `Clone`, but not `'static`.
fn clone_arg(span: Span, value: &Ident, ty: TokenStream) -> TokenStream {
    let trait_name = clone_trait_name(span);
    let span = Span::mixed_site().located_at(span);
    let value = Ident::new(&value.to_string(), span);
    quote_spanned!(span=> <#ty as #trait_name>::clone_for_attempt(&#value))
}

/// The local holding an attempt's clone of `self`.
fn self_clone(span: Span) -> Ident {
    Ident::new("__mruntime_self", Span::mixed_site().located_at(span))
}

/// The body with every `self` of the function (not of nested items) renamed to the attempt's
/// clone of it, in expressions and in macro invocations (`self::` paths excepted).
fn rename_self(block: &Block) -> Block {
    struct RenameSelf;
    impl VisitMut for RenameSelf {
        fn visit_expr_path_mut(&mut self, expr: &mut ExprPath) {
            if expr.qself.is_none() && expr.path.is_ident("self") {
                let ident = &mut expr.path.segments[0].ident;
                *ident = self_clone(ident.span());
            }
        }
        fn visit_item_mut(&mut self, _item: &mut Item) {
            // A nested item's `self` is its own.
        }
        fn visit_macro_mut(&mut self, mac: &mut Macro) {
            mac.tokens = rename_self_tokens(std::mem::take(&mut mac.tokens));
        }
    }
    let mut block = block.clone();
    RenameSelf.visit_block_mut(&mut block);
    block
}

fn rename_self_tokens(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut renamed = Vec::with_capacity(trees.len());
    for (index, tree) in trees.iter().enumerate() {
        let tree = match tree {
            TokenTree::Ident(ident) if ident == "self" && !starts_path(&trees[index + 1..]) => {
                TokenTree::Ident(self_clone(ident.span()))
            }
            TokenTree::Group(group) => {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), rename_self_tokens(group.stream()));
                new.set_span(group.span());
                TokenTree::Group(new)
            }
            other => other.clone(),
        };
        renamed.push(tree);
    }
    renamed.into_iter().collect()
}

/// Whether `rest` starts with `::` (so the `self` before it is a path: `self::CONSTANT`).
fn starts_path(rest: &[TokenTree]) -> bool {
    matches!(
        rest,
        [TokenTree::Punct(first), TokenTree::Punct(second), ..]
            if first.as_char() == ':' && second.as_char() == ':'
    )
}
