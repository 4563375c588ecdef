//! SIGHUP: the config is read again and applied while traffic flows. Entries whose effect did not change keep
//! their SPD handles and SAs; removed and changed entries lose their SAs (negotiated ones with Deletes to the
//! peers); added and changed manual entries get their new SAs, IKE entries negotiate as configured. What DPDK was
//! started with (engine, devices, queues, the control socket) needs a restart: such a reload is refused and the
//! running config stays.
use super::{plan_handles, Daemon};
use anyhow::{bail, Result};
use control::config::{self, PermissionCheck};
use control::plan;
use engine::worker::Command;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

impl Daemon<'_> {
    pub(super) fn reload(&mut self) {
        match self.try_reload() {
            Ok(summary) => {
                tracing::info!(target: "espgate", "config reloaded from {}: {summary}", self.config_path.display())
            }
            Err(e) => {
                tracing::error!(target: "espgate", "reload of {} refused, running config kept: {e:#}", self.config_path.display())
            }
        }
    }

    fn try_reload(&mut self) -> Result<String> {
        let new = config::load(&self.config_path, PermissionCheck::Enforce)?;
        for w in new.warnings() {
            tracing::warn!(target: "espgate", "config: {w}");
        }
        let diff = config::reload(&self.cfg, &new);
        if !diff.restart_required.is_empty() {
            bail!("these changes need a restart: {}", diff.restart_required.join(", "));
        }
        if new.pki != self.cfg.pki {
            bail!("[pki] changes need a restart (credentials are read at start)");
        }
        // An entry asking for a crypto device the daemon could not open is refused before anything changes.
        self.crypto.check(&new)?;
        let old_handle: HashMap<(String, u32), u32> = plan_handles(&self.maps);
        let keep: HashMap<(String, u32), u32> = diff
            .unchanged
            .iter()
            .chain(&diff.changed)
            .filter_map(|id| old_handle.get(id).map(|h| (id.clone(), *h)))
            .collect();
        let ports = self.ports;
        let p = plan::build_keeping(
            &new,
            |dev| ports.iter().find(|p| p.name() == dev).map(|p| p.id()),
            |id| ports.iter().find(|p| p.id() == id).and_then(|p| p.mac().ok()),
            &keep,
            self.next_handle,
        )?;
        let handles = plan_handles(&p.maps);
        // Build every new SA before touching anything, so a bad key leaves the running config whole.
        let mut installs = Vec::new();
        let mut views = Vec::new();
        let fresh: Vec<&(String, u32)> = diff.added.iter().chain(&diff.changed).collect();
        for m in p.maps.iter().filter(|m| fresh.contains(&&(m.name.clone(), m.seq))) {
            let built = super::manual_sas(&new, &self.crypto, &p.tables, m)?;
            if let Some((inbound, outbound)) = built.esp {
                installs.push(Command::InstallInbound(std::sync::Arc::new(inbound)));
                installs.push(Command::InstallOutbound(m.handle, outbound));
            }
            if let Some((inbound, outbound)) = built.ah {
                installs.push(Command::InstallInboundAh(Box::new(inbound)));
                installs.push(Command::InstallOutboundAh(m.handle, outbound));
            }
            views.extend(built.view);
        }
        // IKE builds the SAs of the new and changed entries on the backends the new config asks for.
        self.crypto.set_config(&new)?;
        let now = Instant::now();
        let mut commands = Vec::new();
        // 1. The SAs of removed and changed entries go.
        let gone: Vec<&(String, u32)> = diff.removed.iter().chain(&diff.changed).collect();
        let mut gone_handles = Vec::new();
        for m in self.maps.iter().filter(|m| gone.contains(&&(m.name.clone(), m.seq))) {
            gone_handles.push(m.handle);
            if let Some((inb, _)) = &m.manual {
                commands.push(Command::RemoveInbound(inb.spi));
                commands.push(Command::RemoveOutbound(m.handle));
            }
            if let Some((inb, _)) = &m.manual_ah {
                commands.push(Command::RemoveInboundAh(inb.spi));
                commands.push(Command::RemoveOutboundAh(m.handle));
            }
        }
        self.manual.retain(|v| !gone.contains(&&(v.map.clone(), v.seq)));
        // 2. IKE: SAs of gone entries deleted, new policies.
        let local = super::ike_address(&new);
        match (self.ike.as_mut(), local) {
            (Some(ike), _) if handles_of_isakmp(&new) => {
                ike.reconfigure(now, &new, &handles, &gone_handles, &mut |c| commands.push(c))?
            }
            (Some(ike), _) => {
                ike.shutdown(now);
                ike.flush(&mut |_| {});
                self.ike = None;
            }
            (None, Some(a)) => self.ike = crate::ike::Ike::new(&new, a, &handles, self.crypto.clone())?,
            (None, None) => {}
        }
        // 3. New tables (learned neighbors kept), 4. new manual SAs.
        let tables = self.host.replace_tables(p.tables);
        self.tables = tables.clone();
        commands.push(Command::Tables(Arc::new(tables)));
        commands.extend(installs);
        for c in commands {
            if self.ch.commands.push(c).is_err() {
                tracing::error!(target: "espgate", "worker command queue full during reload: an SA change was lost");
            }
        }
        self.manual.extend(views);
        self.next_handle = self.next_handle.max(p.maps.iter().map(|m| m.handle + 1).max().unwrap_or(0));
        self.maps = p.maps;
        self.cfg = new;
        self.drive_ike(now);
        Ok(format!(
            "{} entries added, {} removed, {} changed, {} unchanged (their SAs kept)",
            diff.added.len(),
            diff.removed.len(),
            diff.changed.len(),
            diff.unchanged.len()
        ))
    }
}

fn handles_of_isakmp(cfg: &config::Config) -> bool {
    cfg.crypto_maps.iter().any(|m| m.kind == config::CryptoMapKind::IpsecIsakmp)
}
