//! Where the daemon's control socket lives. A socket in a directory other users can write to
//! (such as `/tmp`) can be squatted: a local process binds the name first and hears every
//! component's registrations, or feeds them false services. The socket lives in a private
//! directory (mode 0700) owned by the daemon's user; daemon and components both check that
//! before using it.

use crate::DiscoveryError;
use std::{
    os::unix::fs::{DirBuilderExt, MetadataExt},
    path::{Path, PathBuf},
};

/// `$XDG_RUNTIME_DIR/agora-discovery/daemon.sock`, or `/tmp/agora-discovery-UID/daemon.sock`
/// where there is no runtime directory.
pub fn default_socket() -> PathBuf {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(run) if !run.is_empty() => PathBuf::from(run).join("agora-discovery"),
        _ => std::env::temp_dir().join(format!("agora-discovery-{}", euid())),
    };
    dir.join("daemon.sock")
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn unsafe_dir(dir: &Path, reason: String) -> DiscoveryError {
    DiscoveryError::UnsafeSocketDir {
        dir: dir.display().to_string(),
        reason,
    }
}

/// Checks that the socket's directory is safe to use: owned by this user (or root) and
/// writable by no one else.
pub fn check_dir(socket: &Path) -> Result<(), DiscoveryError> {
    let dir = parent(socket);
    let meta = std::fs::metadata(dir).map_err(|e| unsafe_dir(dir, e.to_string()))?;
    if !meta.is_dir() {
        return Err(unsafe_dir(dir, "not a directory".into()));
    }
    if meta.uid() != euid() && meta.uid() != 0 {
        return Err(unsafe_dir(
            dir,
            format!("owned by user {}, not this user ({})", meta.uid(), euid()),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_dir(
            dir,
            format!(
                "mode {:o}: other users may write to it (make it 0700)",
                meta.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

/// For the daemon: creates the socket's directory (mode 0700) when missing, then checks it.
pub fn prepare_dir(socket: &Path) -> Result<(), DiscoveryError> {
    let dir = parent(socket);
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| unsafe_dir(dir, e.to_string()))?;
    }
    check_dir(socket)
}

fn parent(socket: &Path) -> &Path {
    match socket.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_socket_directory_others_can_write_or_own_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // Missing: created private.
        let socket = dir.path().join("run/agora/daemon.sock");
        prepare_dir(&socket).unwrap();
        let mode = std::fs::metadata(socket.parent().unwrap()).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);
        check_dir(&socket).unwrap();
        // World-writable, like /tmp: a local process could squat the name.
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(matches!(
            prepare_dir(&open.join("daemon.sock")),
            Err(DiscoveryError::UnsafeSocketDir { .. })
        ));
        assert!(check_dir(&open.join("daemon.sock")).is_err());
        // Made beforehand by another user (only root can hand a directory over).
        if euid() == 0 {
            let theirs = dir.path().join("theirs");
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&theirs)
                .unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let err = prepare_dir(&theirs.join("daemon.sock")).unwrap_err();
            assert!(err.to_string().contains("owned by user 65534"), "{err}");
        }
    }

    #[test]
    fn the_default_socket_is_not_directly_in_a_shared_directory() {
        let socket = default_socket();
        let dir = socket.parent().unwrap();
        assert_ne!(dir, Path::new("/tmp"));
        assert_ne!(dir, std::env::temp_dir());
    }
}
