//! Redis Sentinel: asking the sentinels a `redis-sentinel://` URL names
//! where the primary is, and checking that the server they name is one.
//! Connecting, and finding the primary again after a failover, is
//! [`super::link`]'s.
//!
//! The sentinels are asked directly (`SENTINEL GET-MASTER-ADDR-BY-NAME`)
//! rather than through the Redis client's Sentinel support, which connects
//! to the primary by its address to check it: a primary whose certificate
//! names it otherwise (`tls_server_name`) could not be reached that way.

use ::redis::aio::MultiplexedConnection;
use ::redis::{
    AsyncConnectionConfig, Client, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, RedisResult, TlsCertificates,
};

use super::connection::readdressed;
use super::tls;
use super::url::RedisUrl;

/// The sentinels of a URL, and how to reach the primary they name.
pub struct Sentinels {
    sentinels: Vec<Client>,
    master: String,
    /// How the primary is reached, whatever its address: a sentinel's
    /// scheme and TLS switches, the primary's database and credentials.
    primary: ConnectionInfo,
    /// Read once: building them reads the system's CAs.
    certificates: Option<TlsCertificates>,
}

impl Sentinels {
    /// The URL's sentinels (TLS as the URL says), asked without a password;
    /// the URL's credentials are the primary's.
    pub fn new(url: &RedisUrl) -> RedisResult<Self> {
        let service = url.sentinel.as_ref().expect("a sentinel URL");
        let certificates = url.tls.as_ref().and_then(|t| t.certificates());
        let infos = url
            .nodes()
            .iter()
            .map(|node| node.as_str().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()?;
        let sentinels = infos
            .iter()
            .map(|info| tls::client(info.clone(), certificates.clone()))
            .collect::<RedisResult<_>>()?;
        let mut settings = RedisConnectionInfo::default().set_db(service.db);
        if let Some(user) = &service.username {
            settings = settings.set_username(user);
        }
        if let Some(password) = &service.password {
            settings = settings.set_password(password);
        }
        let primary = infos[0].clone().set_redis_settings(settings);
        Ok(Sentinels {
            sentinels,
            master: service.master.clone(),
            primary,
            certificates,
        })
    }

    /// A client of the server the first sentinel that answers names as
    /// the primary now.
    pub async fn primary(&self, config: &AsyncConnectionConfig) -> RedisResult<Client> {
        let mut last = None;
        for sentinel in &self.sentinels {
            match self.ask(sentinel, config).await {
                Ok((host, port)) => {
                    let at = readdressed(self.primary.addr(), host, port);
                    let info = self.primary.clone().set_addr(at);
                    return tls::client(info, self.certificates.clone());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| RedisError::from((::redis::ErrorKind::Io, "no sentinels"))))
    }

    async fn ask(
        &self,
        sentinel: &Client,
        config: &AsyncConnectionConfig,
    ) -> RedisResult<(String, u16)> {
        let mut conn = sentinel
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        let addr: Option<(String, u16)> = ::redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&self.master)
            .query_async(&mut conn)
            .await?;
        addr.ok_or_else(|| {
            RedisError::from((
                ::redis::ErrorKind::Io,
                "a sentinel does not know the primary's name",
                self.master.clone(),
            ))
        })
    }
}

/// Fails unless the server answers `ROLE` as a primary: sentinels may
/// still name the old primary for a moment after a failover.
pub async fn check_primary(conn: &mut MultiplexedConnection) -> RedisResult<()> {
    let role: Vec<::redis::Value> = ::redis::cmd("ROLE").query_async(conn).await?;
    let is_primary = matches!(
        role.first(),
        Some(::redis::Value::BulkString(kind)) if kind == b"master"
    );
    if !is_primary {
        return Err(RedisError::from((
            ::redis::ErrorKind::Io,
            "the sentinels named a server that is not (or no longer) the primary",
        )));
    }
    Ok(())
}
