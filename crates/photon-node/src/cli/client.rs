//! Commands that talk to a running node's API, through the typed client
//! ([`photon_api::Client`]).

use anyhow::Result;
use clap::{Args, Subcommand};
use photon_api::{
    Amount, ChangeState, Client, ClientError, DepositMore, Direction, Goal, OpenChannel,
    PatchChannel, Pay, PaymentsQuery, Via, WithdrawSome,
};
use photon_primitives::Address;
use std::time::Duration;

#[derive(Args)]
pub(super) struct ClientArgs {
    /// The node's API.
    #[arg(long, env = "PHOTON_API", default_value = "http://127.0.0.1:5001")]
    api: String,
    /// Bearer token of the API.
    #[arg(long, env = "PHOTON_API_TOKEN")]
    api_token: Option<String>,
}

impl ClientArgs {
    fn client(&self) -> Client {
        Client::new(&self.api, self.api_token.clone())
    }
}

/// The client commands.
#[derive(Subcommand)]
pub(super) enum ClientCommand {
    /// Show a running node's status.
    Status(ClientArgs),
    /// List a running node's channels.
    Channels(ClientArgs),
    /// Open a channel through a running node (waits for the chain).
    Open {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
        /// Deposit while opening.
        #[arg(long)]
        deposit: Option<u128>,
        /// How the deposit reaches the contract: `approve` (any ERC20, two transactions),
        /// `erc223` or `approve_and_call` (one transaction, tokens that support it).
        #[arg(long, default_value = "approve")]
        via: Via,
    },
    /// Deposit into a channel through a running node (waits for the chain).
    Deposit {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
        /// How much.
        amount: u128,
        /// How the deposit reaches the contract: `approve`, `erc223` or `approve_and_call`.
        #[arg(long, default_value = "approve")]
        via: Via,
    },
    /// Close a channel unilaterally through a running node.
    Close {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
    },
    /// Withdraw part of our balance to the chain without closing (the partner co-signs).
    Withdraw {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
        /// How much.
        amount: u128,
    },
    /// Settle a channel cooperatively at the current balances: tokens on chain at once, no
    /// settle window (the partner co-signs; no payment may be pending).
    Settle {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
    },
    /// A running node's payment history, newest first.
    Payments {
        #[command(flatten)]
        client: ClientArgs,
        /// Only this token's.
        #[arg(long)]
        token: Option<Address>,
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
        /// The token.
        token: Address,
        /// Who is paid.
        target: Address,
        /// How much (in the token's smallest unit).
        amount: u128,
        /// Most fee to pay [default: 5 % of the amount plus 100 smallest units].
        #[arg(long)]
        fee_limit: Option<u128>,
    },
    /// Show the routes a running node would try for a payment, with their fees.
    Route {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// Who would be paid.
        target: Address,
        /// How much (in the token's smallest unit).
        amount: u128,
    },
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
        ClientCommand::Channels(args) => {
            let channels = args.client().channels().await?;
            println!(
                "{:<44} {:<44} {:<8} {:>20} {:>20}",
                "token", "partner", "state", "balance", "partner balance"
            );
            for c in channels {
                println!(
                    "{:<44} {:<44} {:<8} {:>20} {:>20}",
                    c.token.to_string(),
                    c.partner.to_string(),
                    c.state.as_str(),
                    c.balance.to_string(),
                    c.partner_balance.to_string()
                );
                // the partner refused one of our messages for good: say why
                if let Some(why) = &c.attention {
                    println!("    needs attention: {why}");
                }
            }
        }
        ClientCommand::Pay { client, token, target, amount, fee_limit } => {
            let pay =
                Pay { amount: Amount(amount), fee_limit: fee_limit.map(Amount), ..Pay::default() };
            let doing = format!("paying {amount} to {target}");
            let outcome = waiting(&doing, client.client().pay(token, target, &pay)).await?;
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        }
        ClientCommand::Route { client, token, target, amount } => {
            let routes = client.client().routes(token, target, Amount(amount)).await?;
            if routes.is_empty() {
                println!("no route to {target} for {amount}");
            }
            println!("{:<6} {:>20}  path", "source", "fee");
            for r in routes {
                let path: Vec<String> = r.path.iter().map(ToString::to_string).collect();
                let source = match r.source {
                    photon_api::RouteSource::Pfs => "pfs",
                    photon_api::RouteSource::Local => "local",
                };
                println!("{source:<6} {:>20}  {}", r.fee.to_string(), path.join(" → "));
            }
        }
        ClientCommand::Open { client, token, partner, deposit, via } => {
            let open = OpenChannel {
                token,
                partner,
                settle_timeout: None,
                deposit: deposit.map(Amount),
                via,
            };
            let tx = waiting("opening the channel", client.client().open_channel(&open)).await?;
            println!("opened: transaction {}", tx.transaction_hash);
        }
        ClientCommand::Deposit { client, token, partner, amount, via } => {
            let patch =
                PatchChannel::Deposit(DepositMore { deposit: Amount(amount), via: Some(via) });
            let doing = format!("depositing {amount}");
            let api = client.client();
            let answer = waiting(&doing, api.patch_channel(token, partner, &patch)).await?;
            let tx = answer.transaction_hash;
            println!("deposited: transaction {}", tx.map_or_else(|| "?".into(), |t| t.to_string()));
        }
        ClientCommand::Close { client, token, partner } => {
            patch(&client, token, partner, Goal::Closed, "closing the channel").await?;
            println!("closing: the node settles it after the settle window");
        }
        ClientCommand::Withdraw { client, token, partner, amount } => {
            let patch = PatchChannel::Withdraw(WithdrawSome { withdraw: Amount(amount) });
            let doing = format!("withdrawing {amount}");
            waiting(&doing, client.client().patch_channel(token, partner, &patch)).await?;
            println!(
                "withdrawal asked: on chain once the partner co-signs (see `photon channels`)"
            );
        }
        ClientCommand::Settle { client, token, partner } => {
            patch(&client, token, partner, Goal::Settled, "settling cooperatively").await?;
            println!("settlement asked: on chain once the partner co-signs");
        }
        ClientCommand::Payments { client, token, direction, limit } => {
            let query =
                PaymentsQuery { token, direction, limit: Some(limit), ..Default::default() };
            let list = client.client().payments(&query).await?;
            println!(
                "{:<10} {:<9} {:>20} {:>12} {:<44} {:>20}",
                "at", "what", "amount", "fee", "counterparty", "payment id"
            );
            for p in list {
                println!(
                    "{:<10} {:<9} {:>20} {:>12} {:<44} {:>20}",
                    p.at,
                    p.direction.as_str(),
                    p.amount.to_string(),
                    p.fee.to_string(),
                    p.counterparty.map_or_else(|| "-".into(), |a| a.to_string()),
                    p.payment_id
                );
            }
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
