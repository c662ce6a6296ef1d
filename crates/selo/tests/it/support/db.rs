//! Direct access to a test server's database, whichever backend it runs on, for the tests that
//! tamper with what is stored (a corrupt record, an aged one) or look at it (personal data
//! forgotten). Statements are written once, with `?1`-style parameters, all text.

use super::Server;

impl Server {
    /// Runs `sql` on the server's database; how many rows it changed.
    pub fn sql_execute(&self, sql: &str, params: &[Option<&str>]) -> u64 {
        match &self.database {
            None => {
                let db = rusqlite::Connection::open(self.data.path().join("selo.db")).unwrap();
                db.execute(sql, rusqlite::params_from_iter(params.iter()))
                    .unwrap() as u64
            }
            Some(database) => {
                let (sql, params) = (postgres_sql(sql), owned(params));
                on_postgres(database.url(), move |c| {
                    Box::pin(async move {
                        let refs = as_params(&params);
                        c.execute(&sql, &refs).await.unwrap()
                    })
                })
            }
        }
    }

    /// The first column of the first row `sql` returns, as text (`None`: no row).
    pub fn sql_text(&self, sql: &str, params: &[Option<&str>]) -> Option<String> {
        match &self.database {
            None => {
                let db = rusqlite::Connection::open(self.data.path().join("selo.db")).unwrap();
                let mut st = db.prepare(sql).unwrap();
                let mut rows = st.query(rusqlite::params_from_iter(params.iter())).unwrap();
                rows.next().unwrap().map(|r| match r.get_ref(0).unwrap() {
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    other => other.as_str().unwrap().to_string(),
                })
            }
            Some(database) => {
                let (sql, params) = (postgres_sql(sql), owned(params));
                on_postgres(database.url(), move |c| {
                    Box::pin(async move {
                        let refs = as_params(&params);
                        let sql = format!("SELECT q.c::text FROM ({sql}) AS q(c)");
                        c.query_opt(&sql, &refs)
                            .await
                            .unwrap()
                            .and_then(|r| r.get::<_, Option<String>>(0))
                    })
                })
            }
        }
    }
}

/// Work on a PostgreSQL connection.
type Work<T> = Box<
    dyn for<'c> FnOnce(
            &'c tokio_postgres::Client,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'c>>
        + Send,
>;

/// Runs `work` with a connection to `url`, on a thread and runtime of its own (tests may be
/// on an async runtime, where waiting on another is not allowed).
fn on_postgres<T: Send + 'static>(
    url: &str,
    work: impl for<'c> FnOnce(
        &'c tokio_postgres::Client,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'c>>
    + Send
    + 'static,
) -> T {
    let url = url.to_string();
    let work: Work<T> = Box::new(work);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            work(&client).await
        })
    })
    .join()
    .unwrap()
}

/// `?1`-style parameters as PostgreSQL's `$1`.
fn postgres_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

fn owned(params: &[Option<&str>]) -> Vec<Option<String>> {
    params.iter().map(|p| p.map(String::from)).collect()
}

fn as_params(params: &[Option<String>]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}
