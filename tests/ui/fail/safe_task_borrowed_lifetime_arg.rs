use std::borrow::Cow;

use mruntime::safe_task;

#[safe_task(component = "reports")]
fn render<'a>(title: Cow<'a, str>) -> usize {
    title.len()
}

fn main() {
    let _ = render(Cow::Borrowed("x"));
}
