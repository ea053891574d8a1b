//! `pooler UPSTREAM_PORT POOL_SIZE USER:PASSWORD...`: PgBouncer in
//! transaction mode in front of the PostgreSQL on `127.0.0.1:UPSTREAM_PORT`
//! (`todo_tests::pooler`), for the test command's pass through Neon-style
//! pooling. Prints the port it listens on, then runs until it is killed
//! (the test command ends its process group, PgBouncer with it).

use std::process::ExitCode;

use todo_tests::pooler::{Pooler, PoolerSettings};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: pooler UPSTREAM_PORT POOL_SIZE USER:PASSWORD...");
        ExitCode::FAILURE
    };
    let [upstream, pool_size, logins @ ..] = args.as_slice() else {
        return usage();
    };
    let (Ok(upstream), Ok(pool_size)) = (upstream.parse(), pool_size.parse()) else {
        return usage();
    };
    let Some(users) = logins
        .iter()
        .map(|login| {
            login
                .split_once(':')
                .map(|(u, p)| (u.to_owned(), p.to_owned()))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|users| !users.is_empty())
    else {
        return usage();
    };
    let pooler = Pooler::start(upstream, &PoolerSettings { pool_size, users });
    println!("{}", pooler.port);
    loop {
        std::thread::park();
    }
}
