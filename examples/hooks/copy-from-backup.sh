#!/bin/sh
# copy-from-backup.sh: an example cset handover hook (see README.md beside this file).
#
# Copies a workload's data directory from a backup location to the directory that the target
# member mounts, before cset starts the workload's ECX group there. A marker file in the target
# directory records the operation id, so running the hook again for the same operation (a new
# leader resumes an operation whose hook was running when the old leader died) does nothing.
#
# Environment, set by cset for every hook:
#   CSET_WORKLOAD CSET_GROUP CSET_OPERATION CSET_REASON
#   CSET_FROM_MEMBER CSET_FROM_SERVER CSET_TO_MEMBER CSET_TO_SERVER
# Environment, set by you (in csetd's environment, or in a wrapper that execs this script):
#   CSET_HOOK_BACKUP_DIR   where the backup of the workload's data is, e.g. /backup/%w
#   CSET_HOOK_DATA_DIR     where the target member mounts it, e.g. /srv/cset/%t/%w
#   CSET_HOOK_COPY_TOOL    auto (default: rsync if installed, else cp -a), rsync or cp
#   CSET_HOOK_REQUIRE_MOUNT  1: refuse to copy unless CSET_HOOK_DATA_DIR is a mount point
# In both directory templates %w is the workload, %g the ECX group, %f the source member,
# %t the target member, %s the target server and %% a literal %.
#
# Exit status: 0 when the data is in place (copied now or by an earlier run of the same
# operation), non-zero with a message on stderr otherwise.
set -eu

marker_name=.cset-handover

die() {
	echo "copy-from-backup: $*" >&2
	exit 1
}

say() {
	echo "copy-from-backup: $*" >&2
}

# need NAME: fails unless the variable NAME is set and not empty.
need() {
	eval "val=\${$1-}"
	[ -n "$val" ] || die "$1 is not set; $2"
}

# safe_name NAME VALUE: a value substituted into a path must be one path component.
safe_name() {
	case $2 in
	'' | . | .. | *[!A-Za-z0-9._-]*) die "$1=\"$2\" cannot be used in a path (allowed: letters, digits, '.', '_', '-')" ;;
	esac
}

# expand TEMPLATE: prints TEMPLATE with the %-sequences replaced.
expand() {
	rest=$1
	out=
	while [ -n "$rest" ]; do
		case $rest in
		%w*) out=$out$CSET_WORKLOAD rest=${rest#%w} ;;
		%g*) safe_name CSET_GROUP "${CSET_GROUP-}"; out=$out$CSET_GROUP rest=${rest#%g} ;;
		%f*) safe_name CSET_FROM_MEMBER "${CSET_FROM_MEMBER-}"; out=$out$CSET_FROM_MEMBER rest=${rest#%f} ;;
		%t*) out=$out$CSET_TO_MEMBER rest=${rest#%t} ;;
		%s*) safe_name CSET_TO_SERVER "${CSET_TO_SERVER-}"; out=$out$CSET_TO_SERVER rest=${rest#%s} ;;
		%%*) out=$out% rest=${rest#%%} ;;
		%*) die "unknown %-sequence in \"$1\" (use %w, %g, %f, %t, %s or %%)" ;;
		*)
			c=${rest%"${rest#?}"}
			out=$out$c rest=${rest#?}
			;;
		esac
	done
	printf '%s\n' "$out"
}

need CSET_WORKLOAD "this script is meant to be run by cset as a handover hook"
need CSET_OPERATION "this script is meant to be run by cset as a handover hook"
need CSET_TO_MEMBER "this script is meant to be run by cset as a handover hook"
need CSET_HOOK_BACKUP_DIR "set it to the backup location, e.g. /backup/%w"
need CSET_HOOK_DATA_DIR "set it to the directory the target member mounts, e.g. /srv/cset/%t/%w"
safe_name CSET_WORKLOAD "$CSET_WORKLOAD"
safe_name CSET_TO_MEMBER "$CSET_TO_MEMBER"
safe_name CSET_OPERATION "$CSET_OPERATION"

src=$(expand "$CSET_HOOK_BACKUP_DIR")
dst=$(expand "$CSET_HOOK_DATA_DIR")
case $src in /*) ;; *) die "CSET_HOOK_BACKUP_DIR must be an absolute path, got \"$src\"" ;; esac
case $dst in /*) ;; *) die "CSET_HOOK_DATA_DIR must be an absolute path, got \"$dst\"" ;; esac
src=${src%/}
dst=${dst%/}
[ -n "$dst" ] || die "CSET_HOOK_DATA_DIR must not be /"
[ -n "$src" ] || die "CSET_HOOK_BACKUP_DIR must not be /"
case $dst/ in "$src"/*) die "the data directory $dst is inside the backup $src" ;; esac
case $src/ in "$dst"/*) die "the backup $src is inside the data directory $dst" ;; esac

tool=${CSET_HOOK_COPY_TOOL:-auto}
case $tool in
auto) if command -v rsync >/dev/null 2>&1; then tool=rsync; else tool=cp; fi ;;
rsync) command -v rsync >/dev/null 2>&1 || die "CSET_HOOK_COPY_TOOL=rsync but rsync is not installed" ;;
cp) ;;
*) die "CSET_HOOK_COPY_TOOL must be auto, rsync or cp, got \"$tool\"" ;;
esac

# Done already? The marker is written last, so it only exists after a complete copy.
marker=$dst/$marker_name
if [ -f "$marker" ] && [ "$(sed -n 1p "$marker")" = "$CSET_OPERATION" ]; then
	say "$CSET_WORKLOAD: $dst already holds the backup copied by operation $CSET_OPERATION; nothing to do"
	exit 0
fi

[ -d "$src" ] || die "$CSET_WORKLOAD: backup directory $src does not exist or is not a directory"
[ -r "$src" ] && [ -x "$src" ] || die "$CSET_WORKLOAD: backup directory $src is not readable"
if [ "${CSET_HOOK_REQUIRE_MOUNT:-0}" = 1 ]; then
	command -v mountpoint >/dev/null 2>&1 || die "CSET_HOOK_REQUIRE_MOUNT=1 needs the mountpoint command"
	mountpoint -q "$dst" || die "$CSET_WORKLOAD: $dst is not a mount point (is the target member's storage mounted here?)"
fi
mkdir -p "$dst" || die "$CSET_WORKLOAD: cannot create $dst"

say "$CSET_WORKLOAD: copying $src to $dst with $tool (operation $CSET_OPERATION, ${CSET_FROM_MEMBER:-nowhere} -> $CSET_TO_MEMBER)"
# A marker of another operation describes data about to be replaced: remove it first, so an
# interrupted copy never looks complete.
rm -f "$marker"
case $tool in
rsync)
	# --delete makes the copy exact; the marker is excluded so the old one is never restored.
	rsync -a --delete --exclude "/$marker_name" "$src/" "$dst/" ||
		die "$CSET_WORKLOAD: rsync from $src to $dst failed"
	;;
cp)
	# cp cannot delete what the backup lacks: empty the directory (not the directory itself,
	# which may be a mount point) and copy everything again.
	find "$dst" -mindepth 1 -maxdepth 1 -exec rm -rf {} + ||
		die "$CSET_WORKLOAD: cannot empty $dst"
	cp -a "$src/." "$dst/" || die "$CSET_WORKLOAD: cp from $src to $dst failed"
	rm -f "$marker" # a marker inside the backup itself is not ours
	;;
esac
printf '%s\n%s %s -> %s\n' "$CSET_OPERATION" "$CSET_WORKLOAD" "${CSET_FROM_MEMBER:-}" "$CSET_TO_MEMBER" >"$marker.tmp"
mv -f "$marker.tmp" "$marker"
say "$CSET_WORKLOAD: copy complete; marker $marker written"
