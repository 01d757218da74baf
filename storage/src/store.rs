//! The store: one registry of open mailboxes for the whole process, and each user's
//! mailbox tree (list, create, delete, rename, subscriptions, special-use).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use inotify::WatchDescriptor;
use tracing::{info, warn};

use crate::error::{Result, StorageError};
use crate::mailbox::{Mailbox, MailboxOptions};
use crate::maildir::names::{MailboxName, SEPARATOR};
use crate::maildir::{self, subscriptions};
use crate::metadata::{Metadata, MetadataRefusal, SPECIALUSE_ENTRY};
use crate::watch::Watcher;

/// Marker in a Maildir root: the special-use mailboxes were created once (a user who deletes
/// Trash later keeps it deleted).
const AUTOCREATED_MARKER: &str = "roost-autocreated";
/// Prefix of directories being deleted; `..` can never be a mailbox name.
const TRASH_PREFIX: &str = "..roost-deleted.";

/// A mailbox created on first login, with its RFC 6154 attribute (e.g. `\Sent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialMailbox {
    pub name: String,
    pub attribute: String,
}

/// What the store needs from the configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Maildir path template; `{user}` is replaced by the user name.
    pub mail_path: String,
    pub mailbox: MailboxOptions,
    /// Fallback rescan of open mailboxes, for changes inotify cannot see.
    pub rescan_interval: Duration,
    /// Create `special_use` on a user's first login.
    pub autocreate: bool,
    pub special_use: Vec<SpecialMailbox>,
    /// Other names of special-use mailboxes ("Sent Items" for `\Sent`), see
    /// [`UserStore::resolve_alias`].
    pub aliases: Vec<SpecialAlias>,
}

/// Another name under which clients look for a special-use mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialAlias {
    /// The RFC 6154 attribute, e.g. `\Sent`.
    pub attribute: String,
    /// The name clients use, e.g. `Sent Items`.
    pub name: String,
}

/// How long a mailbox nobody uses stays open: repeated logins (POP3 clients polling every
/// minute) reuse it instead of reloading the index.
pub const IDLE_CLOSE: Duration = Duration::from_secs(30);

/// Stripes of [`Store::open_stripes`]: cold opens of unrelated mailboxes rarely share one.
const OPEN_STRIPES: usize = 64;

/// An open mailbox. The registry holds it strongly, so the last session letting go never
/// drops it on some other thread: only [`Store::close_idle`] closes it, under the registry
/// lock, after its final index write — a reopen can never read an index still being written.
struct OpenEntry {
    mailbox: Arc<Mailbox>,
    watches: Vec<WatchDescriptor>,
    last_used: Instant,
}

/// The process-wide storage: hands out the one shared [`Mailbox`] per directory.
pub struct Store {
    cfg: StoreConfig,
    open: Mutex<HashMap<PathBuf, OpenEntry>>,
    watcher: Option<Watcher>,
    /// Serializes read-modify-write of subscription files and mailbox tree changes.
    tree_lock: Mutex<()>,
    /// Per user, a counter bumped on every change of the mailbox tree or subscriptions
    /// (IMAP NOTIFY MailboxName and SubscriptionChange events).
    tree_feed: Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>,
    /// Quota limits; unset means nobody is limited.
    quota: std::sync::OnceLock<crate::quota::QuotaPolicy>,
    /// Serialize quota check + commit per user (striped by name), so two sessions cannot
    /// both pass the check with the last free bytes.
    pub(crate) quota_stripes: Vec<Mutex<()>>,
    /// Serialize first opens per directory (striped by path), so a cold open, which lists
    /// and indexes the whole mailbox, runs outside the registry lock that every open takes.
    open_stripes: Vec<Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("cfg", &self.cfg).finish()
    }
}

/// One entry of a user's mailbox list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEntry {
    pub name: MailboxName,
    /// False for a parent that exists only because it has children (IMAP \Noselect).
    pub selectable: bool,
    /// RFC 6154 attribute from the configuration, e.g. `\Sent`.
    pub special_use: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Refuse user names that would leave the mail directory when put into the template.
fn check_user_name(user: &str) -> Result<()> {
    let bad = user.is_empty()
        || user == "."
        || user == ".."
        || user.len() > 255
        || user
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(StorageError::NotAllowed(format!(
            "user name {user:?} cannot be used as part of a path"
        )));
    }
    Ok(())
}

impl Store {
    /// Create the store and start its watcher and maintenance threads.
    pub fn new(cfg: StoreConfig) -> Arc<Store> {
        let store = Arc::new(Store {
            cfg,
            open: Mutex::new(HashMap::new()),
            watcher: Watcher::start(),
            tree_lock: Mutex::new(()),
            tree_feed: Mutex::new(HashMap::new()),
            quota: std::sync::OnceLock::new(),
            quota_stripes: (0..crate::quota::QUOTA_STRIPES)
                .map(|_| Mutex::new(()))
                .collect(),
            open_stripes: (0..OPEN_STRIPES).map(|_| Mutex::new(())).collect(),
        });
        let weak = Arc::downgrade(&store);
        let spawned = std::thread::Builder::new()
            .name("roost-maintenance".into())
            .spawn(move || maintenance(weak));
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start the maintenance thread; indexes are written on close only");
        }
        store
    }

    /// The configuration this store runs with.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Set where quota limits come from (once, at startup; later calls are ignored).
    pub fn set_quota_policy(&self, policy: crate::quota::QuotaPolicy) {
        let _ = self.quota.set(policy);
    }

    /// The mailboxes of `user`, creating the Maildir root on first use.
    pub fn user(self: &Arc<Self>, user: &str) -> Result<UserStore> {
        check_user_name(user)?;
        let root = PathBuf::from(self.cfg.mail_path.replace("{user}", user));
        if !root.join("cur").is_dir() {
            maildir::create_maildir_dirs(&root)?;
            info!(user, root = %root.display(), "created Maildir");
        }
        let quota = self
            .quota
            .get()
            .map(|p| p.limits_of(user))
            .unwrap_or_default();
        Ok(UserStore {
            store: self.clone(),
            user: user.to_string(),
            root,
            quota,
        })
    }

    /// The shared object for the mailbox in `dir`, opening it if nobody has it open.
    fn open_dir(&self, name: MailboxName, dir: PathBuf) -> Result<Arc<Mailbox>> {
        // The deleted check takes the mailbox's own lock, which an APPEND holds through its
        // fsyncs: asked under the registry lock, it made every open of every user wait
        // behind one busy mailbox (SELECT/STATUS p99 of 0.3 to 0.5 s at 100 clients).
        let known = lock(&self.open).get_mut(&dir).map(|e| {
            e.last_used = Instant::now();
            e.mailbox.clone()
        });
        if let Some(mb) = &known
            && !mb.is_deleted()
        {
            return Ok(mb.clone());
        }
        let stripe = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&dir, &mut h);
            std::hash::Hasher::finish(&h) as usize % self.open_stripes.len()
        };
        // Held until the new object is registered: a second opener of the same directory
        // waits here and then finds it, and forget_dirs (which takes every stripe) cannot
        // slip between the open and the registration.
        let _opening = lock(&self.open_stripes[stripe]);
        // Someone may have opened it, or replaced the deleted object, while we waited.
        let found = lock(&self.open)
            .get_mut(&dir)
            .filter(|e| known.as_ref().is_none_or(|k| !Arc::ptr_eq(k, &e.mailbox)))
            .map(|e| {
                e.last_used = Instant::now();
                e.mailbox.clone()
            });
        if let Some(mb) = found
            && !mb.is_deleted()
        {
            return Ok(mb);
        }
        // Outside the registry lock: a cold open of a big mailbox takes as long as listing
        // it, and every other user's SELECT/STATUS would wait that long (at the start of the
        // mixed benchmark, 100 first opens in a row made STATUS p99 0.5 s).
        let mb = Arc::new(Mailbox::open(name, dir.clone(), self.cfg.mailbox.clone())?);
        let mut open = lock(&self.open);
        let watches = self
            .watcher
            .as_ref()
            .map(|w| w.add(&mb))
            .unwrap_or_default();
        let kept = watches.clone();
        if let Some(old) = open.insert(
            dir,
            OpenEntry {
                mailbox: mb.clone(),
                watches,
                last_used: Instant::now(),
            },
        ) && let Some(w) = &self.watcher
        {
            // inotify hands out the same descriptor for the same directory again:
            // only drop the ones the new object does not use.
            w.remove(
                old.watches
                    .into_iter()
                    .filter(|wd| !kept.contains(wd))
                    .collect(),
            );
        }
        Ok(mb)
    }

    /// Tell sessions holding mailboxes at or below `dir` that they are gone.
    fn forget_dirs(&self, matches: impl Fn(&Path) -> bool) {
        // No open may be between listing a directory and registering it (always stripes
        // first, in order, then the registry: the order open_dir takes them in).
        let _opening: Vec<_> = self.open_stripes.iter().map(lock).collect();
        let mut open = lock(&self.open);
        let gone: Vec<PathBuf> = open.keys().filter(|p| matches(p)).cloned().collect();
        for p in gone {
            if let Some(e) = open.remove(&p) {
                e.mailbox.mark_deleted();
                if let Some(w) = &self.watcher {
                    w.remove(e.watches);
                }
            }
        }
    }

    fn open_mailboxes(&self) -> Vec<Arc<Mailbox>> {
        lock(&self.open)
            .values()
            .map(|e| e.mailbox.clone())
            .collect()
    }

    /// Close mailboxes no session has used for `idle`: write their index marked clean and
    /// forget them. Runs under the registry lock, so no open can interleave. Returns how many
    /// were closed (one held for a moment by the watcher is left for the next round).
    pub fn close_idle(&self, idle: Duration) -> usize {
        let mut open = lock(&self.open);
        let unused: Vec<PathBuf> = open
            .iter()
            .filter(|(_, e)| Arc::strong_count(&e.mailbox) == 1 && e.last_used.elapsed() >= idle)
            .map(|(p, _)| p.clone())
            .collect();
        let closed = unused.len();
        for p in unused {
            if let Some(e) = open.remove(&p) {
                e.mailbox.close();
                if let Some(w) = &self.watcher {
                    w.remove(e.watches);
                }
            }
        }
        closed
    }

    /// Write every open mailbox's index (at shutdown, with `closing`).
    pub fn flush_all(&self, closing: bool) {
        for mb in self.open_mailboxes() {
            mb.flush_index(closing);
        }
    }
}

fn maintenance(store: Weak<Store>) {
    let mut last_rescan = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let Some(store) = store.upgrade() else { return };
        store.close_idle(IDLE_CLOSE);
        let rescan = last_rescan.elapsed() >= store.cfg.rescan_interval;
        for mb in store.open_mailboxes() {
            if rescan && let Err(e) = mb.sync_now(false) {
                warn!(mailbox = mb.name().as_str(), error = %e, "periodic rescan failed");
            }
            mb.flush_index(false);
        }
        if rescan {
            last_rescan = Instant::now();
        }
    }
}

/// One user's mailboxes.
#[derive(Debug, Clone)]
pub struct UserStore {
    store: Arc<Store>,
    user: String,
    root: PathBuf,
    pub(crate) quota: crate::quota::QuotaLimits,
}

impl UserStore {
    /// Held across a quota check and the commit it allows.
    pub(crate) fn quota_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&self.user, &mut h);
        let i = std::hash::Hasher::finish(&h) as usize % self.store.quota_stripes.len();
        lock(&self.store.quota_stripes[i])
    }

    /// How long to wait for another process's lock (the uidlist's, the quota's).
    pub(crate) fn lock_timeout(&self) -> Duration {
        self.store.cfg.mailbox.lock_timeout
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The Maildir root (INBOX).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir_of(&self, name: &MailboxName) -> PathBuf {
        match name.dir_name() {
            None => self.root.clone(),
            Some(d) => self.root.join(d),
        }
    }

    /// Whether the mailbox exists (is selectable).
    pub fn exists(&self, name: &MailboxName) -> bool {
        self.dir_of(name).join("cur").is_dir()
    }

    /// The special-use attribute of a mailbox: the one chosen with CREATE-SPECIAL-USE,
    /// else the configured one.
    pub fn special_use_of(&self, name: &MailboxName) -> Option<String> {
        let md = Metadata::read(&self.root).unwrap_or_default();
        self.special_use_with(&md, name)
    }

    fn special_use_with(&self, md: &Metadata, name: &MailboxName) -> Option<String> {
        md.special_use(name.as_str()).or_else(|| {
            self.store
                .cfg
                .special_use
                .iter()
                .find(|s| s.name == name.as_str())
                .map(|s| s.attribute.clone())
        })
    }

    /// The real mailbox behind an alias name ("Sent Items" -> the user's `\Sent`
    /// mailbox). `None` when the name exists itself, is no alias, or no existing mailbox
    /// has the alias's attribute: a real mailbox always wins over an alias.
    pub fn resolve_alias(&self, name: &MailboxName) -> Option<MailboxName> {
        let alias = self
            .store
            .cfg
            .aliases
            .iter()
            .find(|a| a.name == name.as_str())?;
        if self.exists(name) {
            return None;
        }
        // The configured mailbox of that use first, so a client creating a second \Sent
        // does not move where Outlook's "Sent Items" leads.
        let configured = self.store.cfg.special_use.iter().find(|s| {
            s.attribute.eq_ignore_ascii_case(&alias.attribute)
                && MailboxName::new(&s.name).is_ok_and(|n| self.exists(&n))
        });
        if let Some(s) = configured {
            return MailboxName::new(&s.name).ok();
        }
        let entries = self.list().ok()?;
        entries
            .into_iter()
            .filter(|e| e.selectable)
            .find(|e| {
                e.special_use.as_deref().is_some_and(|u| {
                    u.split_whitespace()
                        .any(|a| a.eq_ignore_ascii_case(&alias.attribute))
                })
            })
            .map(|e| e.name)
    }

    /// The user's METADATA entries and chosen special-use attributes.
    pub fn metadata(&self) -> Result<Metadata> {
        Metadata::read(&self.root)
    }

    /// Sets or removes entries of the server (`None`) or of an existing mailbox, all or
    /// nothing; `Ok(Err(_))` when a limit refuses them.
    pub fn set_metadata(
        &self,
        mailbox: Option<&MailboxName>,
        changes: &[(String, Option<Vec<u8>>)],
        max_value_size: usize,
        max_entries: usize,
    ) -> Result<std::result::Result<(), MetadataRefusal>> {
        let _g = lock(&self.store.tree_lock);
        let owner = match mailbox {
            Some(m) if !self.exists(m) => {
                return Err(StorageError::NoSuchMailbox(m.as_str().to_string()));
            }
            Some(m) => m.as_str(),
            None => "",
        };
        let mut md = Metadata::read(&self.root)?;
        if let Err(refused) = md.apply(owner, changes, max_value_size, max_entries) {
            return Ok(Err(refused));
        }
        md.write(&self.root, self.store.cfg.mailbox.fsync)?;
        // NOTIFY MailboxMetadataChange/ServerMetadataChange listen on the tree feed.
        self.tree_changed();
        Ok(Ok(()))
    }

    /// RFC 6154 CREATE-SPECIAL-USE: create the mailbox and keep its attributes.
    pub fn create_special_use(&self, name: &MailboxName, attributes: &[String]) -> Result<()> {
        self.create(name)?;
        if attributes.is_empty() {
            return Ok(());
        }
        let value = attributes.join(" ").into_bytes();
        let change = [(SPECIALUSE_ENTRY.to_string(), Some(value))];
        // The attribute is part of the mailbox: no limit may leave it half created.
        let _never_refused = self.set_metadata(Some(name), &change, usize::MAX, usize::MAX)?;
        Ok(())
    }

    /// The user's tree-change counter, for NOTIFY MailboxName/SubscriptionChange.
    pub fn tree_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        lock(&self.store.tree_feed)
            .entry(self.user.clone())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    fn tree_changed(&self) {
        if let Some(tx) = lock(&self.store.tree_feed).get(&self.user) {
            tx.send_modify(|n| *n += 1);
        }
    }

    /// Drops or moves a mailbox's metadata with it; the tree lock is held.
    fn update_metadata(&self, f: impl FnOnce(&mut Metadata) -> bool) {
        let result = Metadata::read(&self.root).and_then(|mut md| {
            if f(&mut md) {
                md.write(&self.root, self.store.cfg.mailbox.fsync)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            warn!(user = %self.user, error = %e, "cannot update the metadata of a deleted or renamed mailbox");
        }
    }

    /// On the first login, create the configured special-use mailboxes and subscribe them.
    pub fn ensure_special_use(&self) -> Result<()> {
        let marker = self.root.join(AUTOCREATED_MARKER);
        if !self.store.cfg.autocreate || marker.exists() {
            return Ok(());
        }
        let mut created = Vec::new();
        for s in &self.store.cfg.special_use {
            let name = MailboxName::new(&s.name)?;
            if !self.exists(&name) {
                // Another session's first login may create it at the same moment: fine.
                match self.create(&name) {
                    Ok(()) | Err(StorageError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e),
                }
                created.push(name.as_str().to_string());
            }
        }
        // One subscriptions rewrite (and fsync) for all of them: one per mailbox, under
        // the store-wide tree lock, made 100 simultaneous first logins wait on each other.
        self.subscribe_all(&created)?;
        std::fs::write(&marker, b"").map_err(|e| StorageError::io("writing marker", e))?;
        Ok(())
    }

    /// INBOX and every mailbox on disk, plus parents implied by children (not selectable),
    /// sorted by name.
    pub fn list(&self) -> Result<Vec<MailboxEntry>> {
        let mut names: HashMap<String, bool> = HashMap::new();
        names.insert("INBOX".to_string(), true);
        let rd = std::fs::read_dir(&self.root)
            .map_err(|e| StorageError::io(format!("listing {}", self.root.display()), e))?;
        for entry in rd {
            let entry = entry.map_err(|e| StorageError::io("listing mailboxes", e))?;
            let Ok(dir) = entry.file_name().into_string() else {
                continue;
            };
            if !dir.starts_with('.') || dir.starts_with("..") || dir == "." {
                continue;
            }
            if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            match MailboxName::from_dir_name(&dir) {
                Ok(n) => {
                    names.insert(n.as_str().to_string(), entry.path().join("cur").is_dir());
                }
                Err(e) => {
                    warn!(user = %self.user, dir, error = %e, "skipping a folder with an undecodable name")
                }
            }
        }
        // Parents that exist only through their children.
        let implied: Vec<String> = names
            .keys()
            .flat_map(|n| {
                let parts: Vec<&str> = n.split(SEPARATOR).collect();
                (1..parts.len())
                    .map(move |i| parts[..i].join(&SEPARATOR.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for p in implied {
            names.entry(p).or_insert(false);
        }
        let mut out = Vec::with_capacity(names.len());
        let md = Metadata::read(&self.root).unwrap_or_else(|e| {
            warn!(user = %self.user, error = %e, "cannot read metadata; special-use from the configuration only");
            Metadata::default()
        });
        for (n, selectable) in names {
            let name = MailboxName::new(&n)?;
            let special_use = self.special_use_with(&md, &name);
            out.push(MailboxEntry {
                name,
                selectable,
                special_use,
            });
        }
        out.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        Ok(out)
    }

    /// Create a mailbox and any missing parents (RFC 3501 CREATE).
    pub fn create(&self, name: &MailboxName) -> Result<()> {
        let _g = lock(&self.store.tree_lock);
        if self.exists(name) {
            return Err(StorageError::AlreadyExists(name.as_str().to_string()));
        }
        let mut chain = vec![name.clone()];
        let mut p = name.parent();
        while let Some(parent) = p {
            p = parent.parent();
            chain.push(parent);
        }
        for n in chain.into_iter().rev() {
            if n.is_inbox() || self.exists(&n) {
                continue;
            }
            let dir = self.dir_of(&n);
            maildir::create_maildir_dirs(&dir)?;
            std::fs::write(dir.join("maildirfolder"), b"")
                .map_err(|e| StorageError::io("creating maildirfolder", e))?;
        }
        self.tree_changed();
        Ok(())
    }

    /// Delete a mailbox and its messages; children stay (the name becomes a \Noselect parent).
    pub fn delete(&self, name: &MailboxName) -> Result<()> {
        if name.is_inbox() {
            return Err(StorageError::NotAllowed("INBOX cannot be deleted".into()));
        }
        let _g = lock(&self.store.tree_lock);
        let dir = self.dir_of(name);
        if !dir.join("cur").is_dir() {
            return Err(StorageError::NoSuchMailbox(name.as_str().to_string()));
        }
        // Rename first so the mailbox disappears atomically, then remove at leisure.
        let trash = self.root.join(format!(
            "{TRASH_PREFIX}{}.{}",
            std::process::id(),
            crate::mailbox::new_uid_validity() as u64 * 1000 + rand::random::<u16>() as u64
        ));
        std::fs::rename(&dir, &trash).map_err(|e| StorageError::io("deleting mailbox", e))?;
        self.store.forget_dirs(|p| p == dir);
        self.update_metadata(|md| md.remove_mailbox(name.as_str()));
        self.tree_changed();
        if let Err(e) = std::fs::remove_dir_all(&trash) {
            warn!(dir = %trash.display(), error = %e, "cannot remove a deleted mailbox's files");
        }
        Ok(())
    }

    /// Rename a mailbox with its children; renaming INBOX moves its messages into a new
    /// mailbox and leaves INBOX empty (RFC 3501).
    pub fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<()> {
        if to.is_inbox() || self.exists(to) {
            return Err(StorageError::AlreadyExists(to.as_str().to_string()));
        }
        let inside = to
            .as_str()
            .strip_prefix(from.as_str())
            .is_some_and(|rest| rest.starts_with(SEPARATOR));
        if inside {
            return Err(StorageError::NotAllowed(format!(
                "cannot move {} into itself",
                from.as_str()
            )));
        }
        if !self.exists(from) {
            return Err(StorageError::NoSuchMailbox(from.as_str().to_string()));
        }
        if from.is_inbox() {
            return self.rename_inbox(to);
        }
        // Parents of the new name must exist as mailboxes, like CREATE makes them.
        if let Some(parent) = to.parent()
            && !self.exists(&parent)
            && !parent.is_inbox()
        {
            self.create(&parent)?;
        }
        let _g = lock(&self.store.tree_lock);
        let from_dir = from.dir_name().expect("not INBOX");
        let to_dir = to.dir_name().expect("not INBOX");
        let child_prefix = format!("{from_dir}{SEPARATOR}");
        let rd = std::fs::read_dir(&self.root)
            .map_err(|e| StorageError::io(format!("listing {}", self.root.display()), e))?;
        let mut moves = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| StorageError::io("listing mailboxes", e))?;
            let Ok(d) = entry.file_name().into_string() else {
                continue;
            };
            if d == from_dir {
                moves.push((d, to_dir.clone()));
            } else if let Some(rest) = d.strip_prefix(&child_prefix) {
                moves.push((d.clone(), format!("{to_dir}{SEPARATOR}{rest}")));
            }
        }
        for (old, new) in &moves {
            let target = self.root.join(new);
            if target.exists() {
                return Err(StorageError::AlreadyExists(new.clone()));
            }
            std::fs::rename(self.root.join(old), &target)
                .map_err(|e| StorageError::io(format!("renaming {old}"), e))?;
        }
        let root = self.root.clone();
        self.store.forget_dirs(|p| {
            p.strip_prefix(&root)
                .ok()
                .and_then(|r| r.to_str())
                .is_some_and(|r| r == from_dir || r.starts_with(&child_prefix))
        });
        self.update_metadata(|md| md.rename_mailbox(from.as_str(), to.as_str(), SEPARATOR));
        self.tree_changed();
        Ok(())
    }

    fn rename_inbox(&self, to: &MailboxName) -> Result<()> {
        self.create(to)?;
        let inbox = self.open(&MailboxName::new("INBOX")?)?;
        let dest = self.dir_of(to);
        let _g = lock(&self.store.tree_lock);
        for sub in ["new", "cur"] {
            let from = self.root.join(sub);
            let rd = std::fs::read_dir(&from).map_err(|e| StorageError::io("listing INBOX", e))?;
            for entry in rd {
                let entry = entry.map_err(|e| StorageError::io("listing INBOX", e))?;
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                std::fs::rename(entry.path(), dest.join(sub).join(&name))
                    .map_err(|e| StorageError::io("moving INBOX messages", e))?;
            }
        }
        drop(_g);
        inbox.sync_now(true)?;
        Ok(())
    }

    /// The shared object for a mailbox.
    pub fn open(&self, name: &MailboxName) -> Result<Arc<Mailbox>> {
        let dir = self.dir_of(name);
        if !dir.join("cur").is_dir() {
            return Err(StorageError::NoSuchMailbox(name.as_str().to_string()));
        }
        self.store.open_dir(name.clone(), dir)
    }

    /// Subscribed mailbox names (UTF-8, `.` separated), as stored.
    pub fn subscriptions(&self) -> Result<Vec<String>> {
        Ok(subscriptions::read_subscriptions(&self.root)?)
    }

    /// Add a name to the subscriptions (it need not exist).
    pub fn subscribe(&self, name: &str) -> Result<()> {
        let _g = lock(&self.store.tree_lock);
        let mut subs = subscriptions::read_subscriptions(&self.root)?;
        if !subs.iter().any(|s| s == name) {
            subs.push(name.to_string());
            subscriptions::write_subscriptions(&self.root, &subs, self.store.cfg.mailbox.fsync)?;
            self.tree_changed();
        }
        Ok(())
    }

    /// Add names to the subscriptions with at most one write.
    pub fn subscribe_all(&self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let _g = lock(&self.store.tree_lock);
        let mut subs = subscriptions::read_subscriptions(&self.root)?;
        let before = subs.len();
        for name in names {
            if !subs.contains(name) {
                subs.push(name.clone());
            }
        }
        if subs.len() != before {
            subscriptions::write_subscriptions(&self.root, &subs, self.store.cfg.mailbox.fsync)?;
        }
        Ok(())
    }

    /// Remove a name from the subscriptions.
    pub fn unsubscribe(&self, name: &str) -> Result<()> {
        let _g = lock(&self.store.tree_lock);
        let mut subs = subscriptions::read_subscriptions(&self.root)?;
        let before = subs.len();
        subs.retain(|s| s != name);
        if subs.len() != before {
            subscriptions::write_subscriptions(&self.root, &subs, self.store.cfg.mailbox.fsync)?;
            self.tree_changed();
        }
        Ok(())
    }
}
