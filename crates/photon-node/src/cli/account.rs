//! `photon account`: geth-compatible keystore files, and how a key is loaded for `run`,
//! `monitor` and `deploy`.

use super::default_home;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use photon_node::keystore::{self, ScryptCost};
use photon_primitives::{Address, LocalSigner, Signer};
use rand::RngCore;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(super) enum AccountCommand {
    /// Create a new random account.
    New {
        #[command(flatten)]
        keystore: KeystoreArgs,
        /// Encrypt with geth's light scrypt cost (4 MiB instead of 256 MiB; for small
        /// devices, weaker against password guessing).
        #[arg(long)]
        light_kdf: bool,
    },
    /// List the accounts of the keystore.
    List(KeystoreArgs),
    /// Import a private key (hex, from a file) into the keystore.
    Import {
        #[command(flatten)]
        keystore: KeystoreArgs,
        /// File holding the private key as hex.
        #[arg(long)]
        private_key_file: PathBuf,
        /// Encrypt with geth's light scrypt cost (see `account new`).
        #[arg(long)]
        light_kdf: bool,
    },
}

#[derive(Args, Clone)]
pub(super) struct KeystoreArgs {
    /// Keystore directory [default: ~/.photon/keystore].
    #[arg(long, env = "PHOTON_KEYSTORE")]
    pub(super) keystore: Option<PathBuf>,
    /// File holding the keystore password (else PHOTON_PASSWORD, else a prompt).
    #[arg(long, env = "PHOTON_PASSWORD_FILE")]
    pub(super) password_file: Option<PathBuf>,
}

impl KeystoreArgs {
    fn dir(&self) -> PathBuf {
        self.keystore.clone().unwrap_or_else(|| default_home().join("keystore"))
    }
}

#[derive(Args, Clone)]
pub(super) struct KeyArgs {
    #[command(flatten)]
    pub(super) keystore: KeystoreArgs,
    /// The account to use (from the keystore).
    #[arg(long, env = "PHOTON_ADDRESS")]
    pub(super) address: Option<Address>,
    /// Use a raw private key from this file instead of the keystore (development).
    #[arg(long, env = "PHOTON_PRIVATE_KEY_FILE")]
    pub(super) private_key_file: Option<PathBuf>,
}

/// Runs an account command.
pub(super) fn main(command: AccountCommand) -> Result<()> {
    match command {
        AccountCommand::New { keystore, light_kdf } => {
            let password = password(&keystore, true)?;
            let key = loop {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                // all but a 2^-128 fraction of 32-byte strings are valid keys
                if let Ok(key) = LocalSigner::from_bytes(&bytes) {
                    break key;
                }
            };
            let path = store_key(&keystore.dir(), &key, &password, light_kdf)?;
            println!("{}  {}", key.address(), path.display());
        }
        AccountCommand::List(ks) => {
            for (address, path) in list_accounts(&ks.dir())? {
                println!("{address}  {}", path.display());
            }
        }
        AccountCommand::Import { keystore, private_key_file, light_kdf } => {
            let key = read_raw_key(&private_key_file)?;
            let password = password(&keystore, true)?;
            let path = store_key(&keystore.dir(), &key, &password, light_kdf)?;
            println!("{}  {}", key.address(), path.display());
        }
    }
    Ok(())
}

fn password(ks: &KeystoreArgs, confirm: bool) -> Result<String> {
    if let Some(file) = &ks.password_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_string());
    }
    if let Ok(p) = std::env::var("PHOTON_PASSWORD") {
        return Ok(p);
    }
    let first =
        rpassword::prompt_password("keystore password: ").context("reading the password")?;
    if confirm {
        let again = rpassword::prompt_password("again: ").context("reading the password")?;
        if again != first {
            bail!("the passwords differ");
        }
    }
    Ok(first)
}

/// Writes `key` encrypted under `password` into `dir` as a geth-style key file (owner-only
/// permissions; written to a temporary name first, so a crash leaves no half file).
fn store_key(dir: &Path, key: &LocalSigner, password: &str, light: bool) -> Result<PathBuf> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some((_, path)) = list_accounts(dir)?.into_iter().find(|(a, _)| *a == key.address()) {
        bail!("{} is already in the keystore: {}", key.address(), path.display());
    }
    let cost = if light { ScryptCost::LIGHT } else { ScryptCost::STANDARD };
    let json = keystore::encrypt(&key.to_bytes(), password, cost, &mut rand::rngs::OsRng)
        .map_err(|e| anyhow!("encrypting the key: {e}"))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("UTC--{stamp}--{}", hex_address(key.address()));
    let path = dir.join(&name);
    let temp = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).with_context(|| format!("creating {}", temp.display()))?;
    std::io::Write::write_all(&mut file, json.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temp, &path))
        // the new name is durable once the directory is
        .and_then(|()| std::fs::File::open(dir)?.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

pub(super) fn hex_address(a: Address) -> String {
    format!("{a:x}").trim_start_matches("0x").to_string()
}

fn list_accounts(dir: &Path) -> Result<Vec<(Address, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        // hidden files (e.g. a key file being written) are not accounts
        if path.file_name().is_none_or(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        if let Some(address) = keystore::address_of(&text) {
            out.push((address, path));
        }
    }
    out.sort();
    Ok(out)
}

fn read_raw_key(file: &Path) -> Result<LocalSigner> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let bytes: [u8; 32] = alloy::hex::decode(text.trim().trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow!("{} does not hold a 32-byte hex private key", file.display()))?;
    LocalSigner::from_bytes(&bytes).map_err(|e| anyhow!("{e}"))
}

pub(super) fn load_key(key: &KeyArgs) -> Result<LocalSigner> {
    if let Some(file) = &key.private_key_file {
        return read_raw_key(file);
    }
    let dir = key.keystore.dir();
    let accounts = list_accounts(&dir)?;
    let (address, path) = match key.address {
        Some(a) => accounts
            .into_iter()
            .find(|(x, _)| *x == a)
            .ok_or_else(|| anyhow!("no keystore file for {a} in {}", dir.display()))?,
        None => match accounts.len() {
            0 => bail!("no account in {}: run `photon account new`", dir.display()),
            1 => accounts.into_iter().next().ok_or_else(|| anyhow!("no account"))?,
            _ => bail!("several accounts in {}: choose one with --address", dir.display()),
        },
    };
    let password = password(&key.keystore, false)?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    keystore::decrypt(&text, &password)
        .with_context(|| format!("cannot unlock {address} ({})", path.display()))
}
