use mruntime::recover;

#[recover(component = "notification")]
fn notify_all(users: Vec<String>) {
    users.into_iter().for_each(|user| {
        tokio::task::spawn(async move { println!("{user}") });
    });
}

fn main() {
    notify_all(Vec::new());
}
