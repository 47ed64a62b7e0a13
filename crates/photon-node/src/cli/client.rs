//! Commands that talk to a running node's API, through the typed client
//! ([`photon_api::Client`]).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use photon_api::units::{format_amount, parse_amount};
use photon_api::{
    Amount, ChangeState, Client, ClientError, DepositMore, Direction, Goal, OpenChannel,
    PatchChannel, Pay, PaymentsQuery, Via, WithdrawSome,
};
use photon_primitives::Address;
use std::time::Duration;

#[derive(Args)]
pub(super) struct ClientArgs {
    /// The node's API: a URL, or `host:port`.
    #[arg(long, env = "PHOTON_API", default_value = "http://127.0.0.1:5001")]
    api: String,
    /// Bearer token of the API.
    #[arg(long, env = "PHOTON_API_TOKEN")]
    api_token: Option<String>,
    /// Amounts in the token's smallest unit, as the API carries them, rather than in its
    /// display unit (e.g. `12.5` of a token with 6 decimals is 12500000).
    #[arg(long)]
    raw: bool,
}

impl ClientArgs {
    fn client(&self) -> Client {
        Client::new(&api_url(&self.api), self.api_token.clone())
    }

    /// The token `given` names (its address, or its symbol among the tokens the node
    /// follows) and its decimals (`None` with `--raw`, or when the token does not say).
    async fn token(&self, given: &str) -> Result<(Address, Option<u8>)> {
        let tokens = self.client().tokens().await?;
        let found = match given.parse::<Address>() {
            Ok(address) => tokens.into_iter().find(|t| t.address == address).map_or(
                photon_api::TokenView { address, symbol: None, decimals: None, channels: 0 },
                |t| t,
            ),
            Err(_) => {
                let mut named: Vec<_> = tokens
                    .into_iter()
                    .filter(|t| t.symbol.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(given)))
                    .collect();
                match named.len() {
                    1 => named.remove(0),
                    0 => bail!("`{given}` is neither an address nor the symbol of a token the node follows (see `photon tokens`)"),
                    _ => bail!("several tokens the node follows are called `{given}`: give its address"),
                }
            }
        };
        Ok((found.address, if self.raw { None } else { found.decimals }))
    }

    /// Each token the node follows: its decimals and symbol, by address.
    async fn units(
        &self,
    ) -> Result<std::collections::HashMap<Address, (Option<u8>, Option<String>)>> {
        let tokens = self.client().tokens().await?;
        Ok(tokens.into_iter().map(|t| (t.address, (t.decimals, t.symbol))).collect())
    }

    /// `text` as smallest units of a token with `decimals`.
    fn amount(&self, text: &str, decimals: Option<u8>) -> Result<Amount> {
        let raw = parse_amount(text, decimals).map_err(anyhow::Error::msg)?;
        let amount = Amount(raw);
        // the API's own bounds (digits), with its words
        amount.to_string().parse::<Amount>().map_err(anyhow::Error::msg)
    }

    /// `amount` for a person: in the display unit with the symbol, unless `--raw`.
    fn show(&self, amount: Amount, decimals: Option<u8>, symbol: Option<&str>) -> String {
        if self.raw {
            return amount.to_string();
        }
        let text = format_amount(amount.0, decimals);
        match symbol {
            Some(symbol) => format!("{text} {symbol}"),
            None => text,
        }
    }
}

/// The API's base URL from `--api`: a URL as given, `host:port` as `http://host:port`.
fn api_url(given: &str) -> String {
    if given.contains("://") {
        given.to_string()
    } else {
        format!("http://{given}")
    }
}

/// A Unix time as a local date and time (`2026-12-03 11:04:30 +01:00`).
fn local_time(unix: u64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(0)) else {
        return unix.to_string();
    };
    let at = at.to_offset(super::local_offset());
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    at.format(format).unwrap_or_else(|_| unix.to_string())
}

/// The client commands.
#[derive(Subcommand)]
pub(super) enum ClientCommand {
    /// Show a running node's status.
    Status(ClientArgs),
    /// List a running node's channels.
    Channels(ClientArgs),
    /// List the tokens a running node follows, with their symbols and decimals.
    Tokens(ClientArgs),
    /// Open a channel through a running node (waits for the chain).
    Open {
        #[command(flatten)]
        client: ClientArgs,
        /// The token: its address, or its symbol.
        token: String,
        /// The partner.
        partner: Address,
        /// Deposit while opening (in the token's display unit; see `--raw`).
        #[arg(long)]
        deposit: Option<String>,
        /// How the deposit reaches the contract: `approve` (any ERC20, two transactions),
        /// `erc223` or `approve_and_call` (one transaction, tokens that support it).
        #[arg(long, default_value = "approve")]
        via: Via,
    },
    /// Deposit into a channel through a running node (waits for the chain).
    Deposit {
        #[command(flatten)]
        client: ClientArgs,
        /// The token: its address, or its symbol.
        token: String,
        /// The partner.
        partner: Address,
        /// How much (in the token's display unit; see `--raw`).
        amount: String,
        /// How the deposit reaches the contract: `approve`, `erc223` or `approve_and_call`.
        #[arg(long, default_value = "approve")]
        via: Via,
    },
    /// Close a channel unilaterally through a running node.
    Close {
        #[command(flatten)]
        client: ClientArgs,
        /// The token: its address, or its symbol.
        token: String,
        /// The partner.
        partner: Address,
    },
    /// Withdraw part of our balance to the chain without closing (the partner co-signs).
    Withdraw {
        #[command(flatten)]
        client: ClientArgs,
        /// The token: its address, or its symbol.
        token: String,
        /// The partner.
        partner: Address,
        /// How much (in the token's display unit; see `--raw`).
        amount: String,
    },
    /// Settle a channel cooperatively at the current balances: tokens on chain at once, no
    /// settle window (the partner co-signs; no payment may be pending).
    Settle {
        #[command(flatten)]
        client: ClientArgs,
        /// The token: its address, or its symbol.
        token: String,
        /// The partner.
        partner: Address,
    },
    /// A running node's payment history, newest first.
    Payments {
        #[command(flatten)]
        client: ClientArgs,
        /// Only this token's (its address, or its symbol).
        #[arg(long)]
        token: Option<String>,
        /// Only `sent`, `received`, `mediated` or `failed`.
        #[arg(long)]
        direction: Option<Direction>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Pay through a running node.
    Pay {
        #[command(flatten)]
        client: ClientArgs,
        /// The token: its address, or its symbol.
        token: String,
        /// Who is paid.
        target: Address,
        /// How much (in the token's display unit, e.g. `12.5`; see `--raw`).
        amount: String,
        /// Most fee to pay [default: 5 % of the amount plus 100 smallest units].
        #[arg(long)]
        fee_limit: Option<String>,
        /// Text the target receives with the payment (at most 256 bytes of UTF-8; every
        /// mediator can read it).
        #[arg(long, conflicts_with = "data")]
        memo: Option<String>,
        /// Bytes the target receives with the payment, as `0x` and hex (at most 256).
        #[arg(long)]
        data: Option<photon_api::PaymentData>,
    },
    /// Show the routes a running node would try for a payment, with their fees.
    Route {
        #[command(flatten)]
        client: ClientArgs,
        /// The token: its address, or its symbol.
        token: String,
        /// Who would be paid.
        target: Address,
        /// How much (in the token's display unit; see `--raw`).
        amount: String,
    },
    /// Stop a running node gracefully (payments in flight go on when it starts again).
    Shutdown(ClientArgs),
    /// Token swaps: make one, take one, list, show or cancel them (see docs/swaps.md).
    #[command(subcommand)]
    Swap(SwapCommand),
}

/// `photon swap …`.
#[derive(Subcommand)]
pub(super) enum SwapCommand {
    /// Make a swap: the node makes the secret and pays SEND_AMOUNT of SEND_TOKEN to the taker
    /// at once, revealing the secret only for the taker's payment of RECEIVE_AMOUNT of
    /// RECEIVE_TOKEN. Prints the secret hash to give the taker.
    Make {
        #[command(flatten)]
        client: ClientArgs,
        /// The taker.
        taker: Address,
        #[command(flatten)]
        terms: SwapTerms,
    },
    /// Take a swap the maker offered with SECRET_HASH: once the maker's payment of
    /// RECEIVE_AMOUNT of RECEIVE_TOKEN is locked to us, the node pays SEND_AMOUNT of
    /// SEND_TOKEN to the maker locked with the same hash.
    Take {
        #[command(flatten)]
        client: ClientArgs,
        /// The maker.
        maker: Address,
        /// The maker's secret hash (`0x` and 64 hex digits).
        secret_hash: photon_primitives::B256,
        #[command(flatten)]
        terms: SwapTerms,
        /// Blocks to wait for the maker's payment [default: the node's lock timeout].
        #[arg(long)]
        expiry: Option<u64>,
    },
    /// List the node's swaps, newest first.
    List(ClientArgs),
    /// Show one swap.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// Its secret hash.
        secret_hash: photon_primitives::B256,
    },
    /// Cancel a swap that still waits (its secret is out to no one).
    Cancel {
        #[command(flatten)]
        client: ClientArgs,
        /// Its secret hash.
        secret_hash: photon_primitives::B256,
    },
    /// Make a swap across two chains with one node on each: pay on the first, be paid on the
    /// second. Runs until done; run it again to resume. Amounts in smallest units.
    CrossMake {
        #[command(flatten)]
        cross: CrossArgs,
        /// The secret of a swap to resume (default: a fresh one).
        #[arg(long)]
        secret: Option<photon_primitives::B256>,
    },
    /// Swap Litecoin (or another Bitcoin-family coin) for tokens through an on-chain
    /// hash time-locked contract and a Photon payment with the same secret hash. Runs until
    /// done; run it again with the same arguments (and the maker's `--secret`) to resume.
    Ltc(Box<LtcArgs>),
    /// Take a swap across two chains: be paid on the first (the maker's chain), pay on the
    /// second. Runs until done; run it again to resume (after the maker claimed, the secret
    /// must reach the first chain's node before the maker's lock expires).
    CrossTake {
        #[command(flatten)]
        cross: CrossArgs,
        /// The maker's secret hash.
        #[arg(long)]
        secret_hash: photon_primitives::B256,
    },
}

/// What we pay and are paid in a swap, as a person writes it (tokens by address or symbol,
/// amounts in their display unit unless `--raw`).
#[derive(Args)]
pub(super) struct SwapTerms {
    /// The token we pay: its address, or its symbol.
    send_token: String,
    /// How much we pay (in its display unit; see `--raw`).
    send_amount: String,
    /// The token we are paid.
    receive_token: String,
    /// How much we are paid.
    receive_amount: String,
    /// Most fee to pay for our side [default: 5 % of the amount plus 100 smallest units].
    #[arg(long)]
    fee_limit: Option<String>,
}

impl SwapTerms {
    /// The API's request for these terms in `role` with `counterparty`.
    async fn request(
        &self, client: &ClientArgs, role: photon_api::SwapRole, counterparty: Address,
        secret_hash: Option<photon_primitives::B256>, expiry: Option<u64>,
    ) -> Result<photon_api::NewSwap> {
        let (send_token, send_decimals) = client.token(&self.send_token).await?;
        let (receive_token, receive_decimals) = client.token(&self.receive_token).await?;
        Ok(photon_api::NewSwap {
            role,
            counterparty,
            send: photon_api::SwapSide {
                token: send_token,
                amount: client.amount(&self.send_amount, send_decimals)?,
            },
            receive: photon_api::SwapSide {
                token: receive_token,
                amount: client.amount(&self.receive_amount, receive_decimals)?,
            },
            secret_hash,
            expiry,
            fee_limit: self
                .fee_limit
                .as_ref()
                .map(|f| client.amount(f, send_decimals))
                .transpose()?,
        })
    }
}

/// The two nodes and legs of a swap across chains. `--pay-*` is the chain we pay on,
/// `--receive-*` the chain we are paid on.
#[derive(Args)]
pub(super) struct CrossArgs {
    /// Our node on the chain we pay on (URL or host:port).
    #[arg(long)]
    pay_api: String,
    /// Its bearer token.
    #[arg(long, env = "PHOTON_PAY_API_TOKEN")]
    pay_api_token: Option<String>,
    /// The token we pay.
    #[arg(long)]
    pay_token: Address,
    /// How much we pay (smallest units).
    #[arg(long)]
    pay_amount: Amount,
    /// That chain's block time (seconds).
    #[arg(long, default_value_t = 12.0)]
    pay_block_secs: f64,
    /// Our node on the chain we are paid on.
    #[arg(long)]
    receive_api: String,
    /// Its bearer token.
    #[arg(long, env = "PHOTON_RECEIVE_API_TOKEN")]
    receive_api_token: Option<String>,
    /// The token we are paid.
    #[arg(long)]
    receive_token: Address,
    /// How much we are paid (smallest units).
    #[arg(long)]
    receive_amount: Amount,
    /// That chain's block time (seconds).
    #[arg(long, default_value_t = 12.0)]
    receive_block_secs: f64,
    /// The other party's account (the same on both chains unless `--counterparty-receive`).
    #[arg(long)]
    counterparty: Address,
    /// The other party's account on the chain we are paid on, if another.
    #[arg(long)]
    counterparty_receive: Option<Address>,
    /// Seconds between two looks at the nodes.
    #[arg(long, default_value_t = 2)]
    poll_secs: u64,
    /// Longest wait for the counterparty's lock (seconds).
    #[arg(long, default_value_t = 1800)]
    wait_secs: u64,
}

/// Which way the coins go, from our side.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(super) enum CoinsWay {
    /// We fund the contract (coins for tokens).
    Sell,
    /// We are the contract's receiver (tokens for coins).
    Buy,
}

/// `photon swap ltc`: our side of a swap between coins and tokens.
#[derive(Args)]
pub(super) struct LtcArgs {
    /// Whether we sell coins (fund the contract) or buy them.
    #[arg(long, value_enum)]
    coins: CoinsWay,
    /// `maker` (holds the secret, locks first) or `taker` (given the secret hash).
    #[arg(long)]
    role: photon_api::SwapRole,
    /// The maker's secret hash (taker).
    #[arg(long)]
    secret_hash: Option<photon_primitives::B256>,
    /// The secret of a swap to resume (maker; default: a fresh one).
    #[arg(long)]
    secret: Option<photon_primitives::B256>,
    /// The coin node's JSON-RPC (its wallet funds and receives).
    #[arg(long, default_value = "http://127.0.0.1:9332")]
    ltc_rpc: String,
    /// Its RPC user.
    #[arg(long, env = "PHOTON_LTC_RPC_USER", default_value = "")]
    ltc_rpc_user: String,
    /// Its RPC password.
    #[arg(long, env = "PHOTON_LTC_RPC_PASSWORD", default_value = "")]
    ltc_rpc_password: String,
    /// The bech32 prefix of its addresses (`ltc`, `tltc`, `rltc`).
    #[arg(long, default_value = "ltc")]
    ltc_prefix: String,
    /// How deep a funding must be before anything is paid or revealed against it.
    #[arg(long, default_value_t = 6)]
    confirmations: u64,
    /// The coin chain's block time (seconds).
    #[arg(long, default_value_t = 150.0)]
    ltc_block_secs: f64,
    /// Our key in the contract, 32 bytes of hex (keep it: it claims or refunds the coins).
    #[arg(long, env = "PHOTON_LTC_KEY", hide_env_values = true)]
    ltc_key: String,
    /// The other party's public key in the contract (33 bytes of hex).
    #[arg(long)]
    their_ltc_key: String,
    /// The agreed refund height of the contract.
    #[arg(long)]
    refund_height: u32,
    /// The agreed coins (e.g. `0.5`).
    #[arg(long)]
    ltc_amount: String,
    /// The coin chain's height at the agreement (fundings are looked for from there).
    #[arg(long)]
    from_height: u64,
    /// The fee of our claim or refund (in the coin's smallest unit).
    #[arg(long, default_value_t = 10_000)]
    ltc_fee: u64,
    /// Our Photon node's API (URL or host:port).
    #[arg(long, env = "PHOTON_API", default_value = "http://127.0.0.1:5001")]
    api: String,
    /// Its bearer token.
    #[arg(long, env = "PHOTON_API_TOKEN")]
    api_token: Option<String>,
    /// The token.
    #[arg(long)]
    token: Address,
    /// The tokens' receiver gets this many (smallest units).
    #[arg(long)]
    amount: Amount,
    /// The other party's Photon account.
    #[arg(long)]
    counterparty: Address,
    /// The Photon chain's block time (seconds).
    #[arg(long, default_value_t = 12.0)]
    photon_block_secs: f64,
}

/// Runs `photon swap ltc`.
async fn ltc_swap(args: LtcArgs) -> Result<()> {
    use photon_swap::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use photon_swap::flow::{self, Chain, Coins, Outcome, Patience, Tokens};
    let hex32 = |text: &str, what: &str| -> Result<Vec<u8>> {
        use photon_swap::bitcoin::hex::FromHex;
        Vec::from_hex(text.strip_prefix("0x").unwrap_or(text))
            .map_err(|_| anyhow::anyhow!("{what} is not hex"))
    };
    let ours = SecretKey::from_slice(&hex32(&args.ltc_key, "--ltc-key")?)
        .map_err(|_| anyhow::anyhow!("--ltc-key is not a secp256k1 secret key (32 bytes)"))?;
    let theirs = PublicKey::from_slice(&hex32(&args.their_ltc_key, "--their-ltc-key")?)
        .map_err(|_| anyhow::anyhow!("--their-ltc-key is not a public key (33 bytes)"))?;
    let ours_public = PublicKey::from_secret_key(&Secp256k1::new(), &ours);
    let amount = photon_swap::bitcoin::Amount::from_str_in(
        &args.ltc_amount,
        photon_swap::bitcoin::Denomination::Bitcoin,
    )
    .map_err(|e| anyhow::anyhow!("--ltc-amount: {e}"))?;
    let maker = matches!(args.role, photon_api::SwapRole::Maker);
    let secret = match (maker, args.secret, args.secret_hash) {
        (true, Some(secret), _) => Some(secret.0),
        (true, None, None) => Some(random_secret().0),
        (true, None, Some(_)) => bail!("a maker makes the secret: give no --secret-hash"),
        (false, _, Some(_)) => None,
        (false, _, None) => bail!("a taker needs the maker's --secret-hash"),
    };
    let hash = match (secret, args.secret_hash) {
        (Some(secret), _) => flow::hash_of(secret),
        (None, Some(hash)) => hash.0,
        (None, None) => bail!("no secret hash"),
    };
    let (receiver, sender) = match args.coins {
        CoinsWay::Sell => (theirs, ours_public),
        CoinsWay::Buy => (ours_public, theirs),
    };
    let htlc = photon_swap::Htlc::new(hash, receiver, sender, args.refund_height)?;
    let chain = Chain {
        rpc: photon_swap::rpc::Rpc::new(&args.ltc_rpc, &args.ltc_rpc_user, &args.ltc_rpc_password),
        prefix: args.ltc_prefix.clone(),
        confirmations: args.confirmations,
        block_secs: args.ltc_block_secs,
    };
    let address = chain.rpc.call("getnewaddress", serde_json::json!(["", "bech32"])).await?;
    let info = chain.rpc.call("getaddressinfo", serde_json::json!([address])).await?;
    let script = info["scriptPubKey"].as_str().unwrap_or_default();
    let to = photon_swap::bitcoin::ScriptBuf::from_bytes(hex32(script, "the wallet's script")?);
    let coins = Coins {
        htlc,
        amount,
        key: ours,
        to,
        fee: photon_swap::bitcoin::Amount::from_sat(args.ltc_fee),
        from: args.from_height,
    };
    let tokens = Tokens {
        node: Client::new(&api_url(&args.api), args.api_token.clone()),
        token: args.token,
        amount: args.amount,
        counterparty: args.counterparty,
        block_secs: args.photon_block_secs,
    };
    eprintln!(
        "contract {} (secret hash {})",
        htlc.address(&args.ltc_prefix)?,
        photon_primitives::B256::from(hash)
    );
    if let Some(secret) = secret {
        eprintln!(
            "the secret, should you need to resume: {}",
            photon_primitives::B256::from(secret)
        );
    }
    let patience = Patience::default();
    let outcome = match (args.coins, secret) {
        (CoinsWay::Sell, Some(secret)) => {
            flow::sell_coins(&chain, &coins, &tokens, secret, patience).await?
        }
        (CoinsWay::Buy, None) => flow::buy_coins(&chain, &coins, &tokens, patience).await?,
        (CoinsWay::Buy, Some(secret)) => {
            flow::buy_coins_with_tokens(&chain, &coins, &tokens, secret, patience).await?
        }
        (CoinsWay::Sell, None) => {
            flow::sell_coins_for_tokens(&chain, &coins, &tokens, patience).await?
        }
    };
    match outcome {
        Outcome::Completed { .. } => println!("completed"),
        Outcome::Refunded { txid } => println!("refunded: {txid}"),
        Outcome::NotExchanged { reason } => println!("nothing exchanged: {reason}"),
    }
    Ok(())
}

impl CrossArgs {
    fn legs(&self) -> (photon_node::crosschain::Leg, photon_node::crosschain::Leg) {
        use photon_node::crosschain::Leg;
        let pay = Leg {
            node: Client::new(&api_url(&self.pay_api), self.pay_api_token.clone()),
            token: self.pay_token,
            amount: self.pay_amount,
            counterparty: self.counterparty,
            block_secs: self.pay_block_secs,
        };
        let receive = Leg {
            node: Client::new(&api_url(&self.receive_api), self.receive_api_token.clone()),
            token: self.receive_token,
            amount: self.receive_amount,
            counterparty: self.counterparty_receive.unwrap_or(self.counterparty),
            block_secs: self.receive_block_secs,
        };
        (pay, receive)
    }

    fn patience(&self) -> photon_node::crosschain::Patience {
        photon_node::crosschain::Patience {
            poll: Duration::from_secs(self.poll_secs.max(1)),
            wait: Duration::from_secs(self.wait_secs),
            margin: Duration::from_secs(60),
        }
    }
}

/// A fresh secret from the system's random source.
fn random_secret() -> photon_primitives::B256 {
    photon_primitives::B256::from(rand::random::<[u8; 32]>())
}

fn print_outcome(outcome: &photon_node::crosschain::CrossOutcome) {
    use photon_node::crosschain::CrossOutcome;
    match outcome {
        CrossOutcome::Completed { secret } => println!("completed (secret {secret})"),
        CrossOutcome::NotExchanged { reason } => println!("nothing exchanged: {reason}"),
    }
}

/// Runs `photon swap …`.
async fn swap(command: SwapCommand) -> Result<()> {
    use photon_api::SwapRole;
    let show = |swap: &photon_api::SwapView| -> Result<()> {
        println!("{}", serde_json::to_string_pretty(swap)?);
        Ok(())
    };
    match command {
        SwapCommand::Make { client, taker, terms } => {
            let swap = terms.request(&client, SwapRole::Maker, taker, None, None).await?;
            let made = client.client().start_swap(&swap).await?;
            eprintln!(
                "give the taker this secret hash: {:?} (it runs `photon swap take`)",
                made.secret_hash
            );
            show(&made)?;
        }
        SwapCommand::Take { client, maker, secret_hash, terms, expiry } => {
            let swap =
                terms.request(&client, SwapRole::Taker, maker, Some(secret_hash), expiry).await?;
            let taken = client.client().start_swap(&swap).await?;
            show(&taken)?;
        }
        SwapCommand::List(client) => {
            let swaps = client.client().swaps().await?;
            let units = client.units().await?;
            let amount = |side: &photon_api::SwapSide| {
                let (decimals, symbol) = units.get(&side.token).cloned().unwrap_or_default();
                client.show(side.amount, decimals, symbol.as_deref())
            };
            println!(
                "{:<68} {:<6} {:<10} {:>24} {:>24}",
                "secret hash", "role", "state", "send", "receive"
            );
            for s in swaps {
                println!(
                    "{:<68} {:<6} {:<10} {:>24} {:>24}",
                    format!("{:?}", s.secret_hash),
                    s.role.as_str(),
                    s.state.as_str(),
                    amount(&s.send),
                    amount(&s.receive),
                );
                if let Some(why) = &s.reason {
                    println!("    {why}");
                }
            }
        }
        SwapCommand::Show { client, secret_hash } => {
            let swap = client.client().swap(secret_hash).await?;
            show(&swap)?;
        }
        SwapCommand::Cancel { client, secret_hash } => {
            let swap = client.client().cancel_swap(secret_hash).await?;
            show(&swap)?;
        }
        SwapCommand::Ltc(args) => ltc_swap(*args).await?,
        SwapCommand::CrossMake { cross, secret } => {
            let secret = secret.unwrap_or_else(random_secret);
            let hash = photon_node::crosschain::hash_of(secret);
            eprintln!("secret hash for the taker: {hash} (keep this command running)");
            eprintln!("the secret, should you need to resume: {secret}");
            let (pay, receive) = cross.legs();
            let outcome =
                photon_node::crosschain::make(&pay, &receive, secret, cross.patience()).await?;
            print_outcome(&outcome);
        }
        SwapCommand::CrossTake { cross, secret_hash } => {
            let (pay, receive) = cross.legs();
            let outcome =
                photon_node::crosschain::take(&pay, &receive, secret_hash, cross.patience())
                    .await?;
            print_outcome(&outcome);
        }
    }
    Ok(())
}

/// Waits for `call`, showing progress on stderr (a call may wait for the chain).
async fn waiting<T>(
    doing: &str, call: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T> {
    eprint!("{doing} ");
    tokio::pin!(call);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let result = loop {
        tokio::select! {
            r = &mut call => break r,
            _ = ticker.tick() => eprint!("."),
        }
    };
    eprintln!();
    Ok(result?)
}

/// Runs a client command.
pub(super) async fn main(command: ClientCommand) -> Result<()> {
    match command {
        ClientCommand::Status(args) => {
            let status = args.client().status().await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        ClientCommand::Tokens(args) => {
            let tokens = args.client().tokens().await?;
            println!("{:<44} {:<10} {:>8} {:>8}", "token", "symbol", "decimals", "channels");
            for t in tokens {
                println!(
                    "{:<44} {:<10} {:>8} {:>8}",
                    t.address.to_string(),
                    t.symbol.as_deref().unwrap_or("-"),
                    t.decimals.map_or_else(|| "-".into(), |d| d.to_string()),
                    t.channels
                );
            }
        }
        ClientCommand::Channels(args) => {
            let channels = args.client().channels().await?;
            println!(
                "{:<44} {:<44} {:<8} {:>24} {:>24}",
                "token", "partner", "state", "balance", "partner balance"
            );
            for c in channels {
                let (decimals, symbol) = (c.decimals, c.symbol.as_deref());
                println!(
                    "{:<44} {:<44} {:<8} {:>24} {:>24}",
                    c.token.to_string(),
                    c.partner.to_string(),
                    c.state.as_str(),
                    args.show(c.balance, decimals, symbol),
                    args.show(c.partner_balance, decimals, symbol),
                );
                // the partner refused one of our messages for good: say why
                if let Some(why) = &c.attention {
                    println!("    needs attention: {why}");
                }
                if let Some(block) = c.settle_block {
                    println!("    closed; settled from block {block}");
                }
            }
        }
        ClientCommand::Pay { client, token, target, amount, fee_limit, memo, data } => {
            let data = data.or_else(|| memo.map(|text| photon_api::PaymentData(text.into_bytes())));
            let most = photon_primitives::messages::MAX_DATA_LEN;
            if let Some(too_long) = data.as_ref().filter(|d| d.0.len() > most) {
                anyhow::bail!(
                    "the memo is {} bytes, more than the maximum of {most}",
                    too_long.0.len()
                );
            }
            let (token, decimals) = client.token(&token).await?;
            let amount = client.amount(&amount, decimals)?;
            let fee_limit = fee_limit.map(|f| client.amount(&f, decimals)).transpose()?;
            let pay = Pay { amount, fee_limit, data, ..Pay::default() };
            // the token's address too: a symbol is whatever its contract says
            let doing = format!(
                "paying {} of token {token} to {target}",
                client.show(amount, decimals, None)
            );
            let outcome = waiting(&doing, client.client().pay(token, target, &pay)).await?;
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        }
        ClientCommand::Route { client, token, target, amount } => {
            let (token, decimals) = client.token(&token).await?;
            let amount = client.amount(&amount, decimals)?;
            let routes = client.client().routes(token, target, amount).await?;
            if routes.is_empty() {
                println!("no route to {target} for {}", client.show(amount, decimals, None));
            }
            println!("{:<6} {:>24}  path", "source", "fee");
            for r in routes {
                let path: Vec<String> = r.path.iter().map(ToString::to_string).collect();
                let source = match r.source {
                    photon_api::RouteSource::Pfs => "pfs",
                    photon_api::RouteSource::Local => "local",
                };
                let fee = client.show(r.fee, decimals, None);
                println!("{source:<6} {fee:>24}  {}", path.join(" → "));
            }
        }
        ClientCommand::Open { client, token, partner, deposit, via } => {
            let (token, decimals) = client.token(&token).await?;
            let deposit = deposit.map(|d| client.amount(&d, decimals)).transpose()?;
            let open = OpenChannel { token, partner, settle_timeout: None, deposit, via };
            let tx = waiting("opening the channel", client.client().open_channel(&open)).await?;
            println!("opened: transaction {}", tx.transaction_hash);
        }
        ClientCommand::Deposit { client, token, partner, amount, via } => {
            let (token, decimals) = client.token(&token).await?;
            let amount = client.amount(&amount, decimals)?;
            let patch = PatchChannel::Deposit(DepositMore { deposit: amount, via: Some(via) });
            let doing = format!("depositing {}", client.show(amount, decimals, None));
            let api = client.client();
            let answer = waiting(&doing, api.patch_channel(token, partner, &patch)).await?;
            let tx = answer.transaction_hash;
            println!("deposited: transaction {}", tx.map_or_else(|| "?".into(), |t| t.to_string()));
        }
        ClientCommand::Close { client, token, partner } => {
            let (token, _) = client.token(&token).await?;
            patch(&client, token, partner, Goal::Closed, "closing the channel").await?;
            println!("closing: the node settles it after the settle window");
        }
        ClientCommand::Withdraw { client, token, partner, amount } => {
            let (token, decimals) = client.token(&token).await?;
            let amount = client.amount(&amount, decimals)?;
            let patch = PatchChannel::Withdraw(WithdrawSome { withdraw: amount });
            let doing = format!("withdrawing {}", client.show(amount, decimals, None));
            waiting(&doing, client.client().patch_channel(token, partner, &patch)).await?;
            println!(
                "withdrawal asked: on chain once the partner co-signs (see `photon channels`)"
            );
        }
        ClientCommand::Settle { client, token, partner } => {
            let (token, _) = client.token(&token).await?;
            patch(&client, token, partner, Goal::Settled, "settling cooperatively").await?;
            println!("settlement asked: on chain once the partner co-signs");
        }
        ClientCommand::Payments { client, token, direction, limit } => {
            let token = match token {
                Some(given) => Some(client.token(&given).await?.0),
                None => None,
            };
            let units = client.units().await?;
            let query =
                PaymentsQuery { token, direction, limit: Some(limit), ..Default::default() };
            let list = client.client().payments(&query).await?;
            println!(
                "{:<26} {:<9} {:>24} {:>16} {:<44} {:>20}",
                "at", "what", "amount", "fee", "counterparty", "payment id"
            );
            for p in list {
                let (decimals, symbol) = units.get(&p.token).cloned().unwrap_or_default();
                println!(
                    "{:<26} {:<9} {:>24} {:>16} {:<44} {:>20}",
                    local_time(p.at),
                    p.direction.as_str(),
                    client.show(p.amount, decimals, symbol.as_deref()),
                    client.show(p.fee, decimals, None),
                    p.counterparty.map_or_else(|| "-".into(), |a| a.to_string()),
                    p.payment_id
                );
                if !p.data.is_empty() {
                    // text as text; anything else (or text with control characters) as hex
                    let text = std::str::from_utf8(&p.data.0)
                        .ok()
                        .filter(|t| !t.chars().any(char::is_control))
                        .map_or_else(|| p.data.to_string(), |t| format!("{t:?}"));
                    println!("{:<26} with data {text}", "");
                }
            }
        }
        ClientCommand::Swap(command) => swap(command).await?,
        ClientCommand::Shutdown(args) => {
            args.client().shutdown().await?;
            println!("stopping: the node finishes what it is doing and exits");
        }
    }
    Ok(())
}

/// Moves a channel to `goal` (closed, or settled cooperatively).
async fn patch(
    args: &ClientArgs, token: Address, partner: Address, goal: Goal, doing: &str,
) -> Result<()> {
    let patch = PatchChannel::State(ChangeState { state: goal });
    waiting(doing, args.client().patch_channel(token, partner, &patch)).await?;
    Ok(())
}
