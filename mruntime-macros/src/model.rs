//! The models the macros are expanded from: what `validate` produces from the arguments and the
//! item, and what `expand` (and `fallback`, with placeholders) turn into tokens.

use proc_macro2::Span;
use syn::{Attribute, Block, Expr, ReturnType, Signature, Type, Visibility};

/// Which macro is expanding: decides the valid keys and the wording of errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MacroKind {
    Recover,
    SafeTask,
    SafeGo,
}

impl MacroKind {
    /// The macro as the user writes it, for messages: `#[recover]`.
    pub(crate) fn display(self) -> &'static str {
        match self {
            MacroKind::Recover => "#[recover]",
            MacroKind::SafeTask => "#[safe_task]",
            MacroKind::SafeGo => "safe_go!",
        }
    }
}

/// A function with a body.
pub(crate) struct GuardedFn {
    pub(crate) outer_attrs: Vec<Attribute>,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) block: Block,
}

/// The two policies of `mruntime::PanicPolicy`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum Policy {
    #[default]
    KeepRunning,
    CrashProcess,
}

/// A restart policy as the expansion needs it: `RestartPolicy::from_millis(max, within, ..)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Restart {
    /// The `restart` keyword, for errors about the policy as a whole.
    pub(crate) span: Span,
    pub(crate) max: u32,
    pub(crate) within_ms: u64,
    pub(crate) first_ms: u64,
    pub(crate) second_ms: u64,
}

impl Restart {
    pub(crate) fn defaults(span: Span) -> Self {
        Restart {
            span,
            max: 5,
            within_ms: 60_000,
            first_ms: 100,
            second_ms: 10_000,
        }
    }
}

/// A component or name label: a string literal, or the path of a `&'static str` constant
/// (`labels::PAYMENTS`), whose value is the label.
#[derive(Clone)]
pub(crate) enum Label {
    Text(String),
    Const(syn::Path),
}

/// Where a guard stands: becomes the `static` `Site` of the expansion.
pub(crate) struct Site {
    pub(crate) component: Label,
    pub(crate) name: Label,
    pub(crate) policy: Policy,
    /// The policy as the user wrote it, when it is a path the user may have imported
    /// (`PanicPolicy::CrashProcess`): the expansion type-checks it, which also keeps the
    /// user's `use` from being reported unused.
    pub(crate) policy_path: Option<syn::Path>,
}

impl Site {
    /// The site of an invocation whose arguments had errors: the expansion keeps its types.
    pub(crate) fn placeholder() -> Site {
        Site {
            component: Label::Text(String::new()),
            name: Label::Text(String::new()),
            policy: Policy::KeepRunning,
            policy_path: None,
        }
    }
}

/// What the function returns, as the expansion needs it.
pub(crate) enum Ret {
    /// No `->`: `()`.
    Unit,
    /// `-> !`: the expansion uses `core::convert::Infallible` where `!` cannot be written.
    Never,
    /// Any other type.
    Type(Box<Type>),
}

/// `#[recover]`, ready to expand.
pub(crate) struct Recover {
    pub(crate) site: Site,
    pub(crate) func: GuardedFn,
    pub(crate) ret: Ret,
    pub(crate) on_panic: Option<Expr>,
    pub(crate) body: RecoverBody,
}

/// Which part of a `#[recover]` function runs the user's code.
pub(crate) enum RecoverBody {
    /// A sync function: its body runs in a guarded closure.
    Sync,
    /// An `async fn`: its body runs as a guarded future.
    Async,
    /// A sync function whose last statement builds the future that holds the user's code:
    /// `Box::pin(async move { .. })` as `#[async_trait]` writes it, or a bare `async move { .. }`.
    /// That async block is what gets guarded.
    /// A function returning `impl Stream`: the body (sync, or an `async fn`'s future) runs
    /// guarded while it makes the stream, and the stream it returns is guarded on every poll.
    Stream {
        /// Whether the function is an `async fn`.
        is_async: bool,
    },
    ReturnsAsyncBlock {
        /// Index of the statement in the body.
        stmt: usize,
        /// The future's `Output = T`, when the signature names it (for error spans).
        output: Option<Box<Type>>,
    },
}

/// `#[safe_task]`, ready to expand.
pub(crate) struct SafeTask {
    pub(crate) site: Site,
    pub(crate) func: GuardedFn,
    pub(crate) ret: Ret,
    pub(crate) restart: Option<Restart>,
    /// `group = expr`.
    pub(crate) group: Option<Expr>,
    /// `health`: the task is a health component even without `restart(..)`.
    pub(crate) health: bool,
    /// The index (in `func.sig.inputs`) of the argument that receives the task's context.
    pub(crate) ctx: Option<usize>,
}

impl SafeTask {
    /// Whether the task needs the `TaskContext` API (`spawn_with_context`, `spawn_supervised`,
    /// ...) rather than the plain `spawn`.
    pub(crate) fn needs_context(&self) -> bool {
        self.restart.is_some() || self.group.is_some() || self.ctx.is_some() || self.health
    }
}

/// `safe_go!`, ready to expand.
pub(crate) struct SafeGo {
    pub(crate) site: Site,
    pub(crate) task: GoTask,
    pub(crate) restart: Option<Restart>,
    /// `group = expr`.
    pub(crate) group: Option<Expr>,
    /// `context = expr`: the parent context.
    pub(crate) context: Option<Expr>,
}

/// What `safe_go!` spawns.
pub(crate) enum GoTask {
    /// A future (any expression that is not a closure), run once.
    Future(Expr),
    /// A closure taking the task's `TaskContext` (or, under `restart(..)`, any expression other
    /// than a closure or an async block: a factory such as a function's path), called once (once
    /// per attempt under `restart(..)`).
    WithContext(Expr),
}

/// The return type as the expansion needs it.
impl Ret {
    /// The return type of a signature.
    pub(crate) fn of(output: &ReturnType) -> Ret {
        match output {
            ReturnType::Default => Ret::Unit,
            ReturnType::Type(_, ty) => match strip_parens(ty) {
                Type::Never(_) => Ret::Never,
                _ => Ret::Type(ty.clone()),
            },
        }
    }
}

pub(crate) fn strip_parens(ty: &Type) -> &Type {
    match ty {
        Type::Paren(inner) => strip_parens(&inner.elem),
        Type::Group(inner) => strip_parens(&inner.elem),
        other => other,
    }
}
