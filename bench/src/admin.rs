//! The owner's connection to the run's PostgreSQL: seeding, and
//! `pg_stat_statements`.

use tokio_postgres::NoTls;

/// The owner's connection: seeding and pg_stat_statements.
pub struct Admin {
    pub client: tokio_postgres::Client,
    pub rt: tokio::runtime::Runtime,
}

impl Admin {
    pub fn connect(url: &str) -> Admin {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let client = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, NoTls)
                .await
                .expect("the database");
            tokio::spawn(connection);
            client
        });
        Admin { client, rt }
    }

    pub fn tasks(&self, user: &str, count: usize) -> Vec<i64> {
        self.rt.block_on(async {
            let rows = self
                .client
                .query(
                    "INSERT INTO tasks (user_id, title, description)
                     SELECT $1, 'seeded task ' || n, 'for make bench' FROM generate_series(1, $2) n
                     RETURNING id",
                    &[&user, &(count as i32)],
                )
                .await
                .expect("seed tasks");
            rows.iter().map(|r| r.get(0)).collect()
        })
    }

    /// `count` tasks of the largest size a user may store: a 200-character
    /// title and 10,000 four-byte characters of description (about 40 kB).
    pub fn large_tasks(&self, user: &str, count: i32) {
        self.rt
            .block_on(self.client.execute(
                "INSERT INTO tasks (user_id, title, description)
                 SELECT $1, repeat('t', 200), repeat(chr(128512), 10000) FROM generate_series(1, $2)",
                &[&user, &count],
            ))
            .expect("seed large tasks");
    }

    /// Creates `pg_stat_statements` (once) and empties its counts.
    pub fn reset_statements(&self) {
        self.rt
            .block_on(self.client.simple_query(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
                     SELECT pg_stat_statements_reset()",
            ))
            .expect("pg_stat_statements (is it preloaded?)");
    }

    /// The server connections `role` holds now.
    pub fn connections_of(&self, role: &str) -> i64 {
        self.rt.block_on(async {
            self.client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
                    &[&role],
                )
                .await
                .map_or(0, |row| row.get(0))
        })
    }

    /// Statements `role` ran since the last reset, and their time on the
    /// server in all (ms).
    pub fn statements(&self, role: &str) -> (i64, f64) {
        self.rt.block_on(async {
            let row = self
                .client
                .query_one(
                    "SELECT coalesce(sum(calls), 0)::bigint,
                            coalesce(sum(total_exec_time), 0)::float8
                     FROM pg_stat_statements
                     WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)",
                    &[&role],
                )
                .await
                .expect("pg_stat_statements");
            (row.get(0), row.get(1))
        })
    }
}
