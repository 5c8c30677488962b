#!/usr/bin/python3
"""
test_plugin_kit.py - a provider plugin built outside the tree, with only
what `make install` puts in place (docs/backends.md "Writing a backend"):

  install     the kit's install targets of this build (DESTDIR=...):
              backend.h, the kit's headers under stratus/core/ and
              stratus/sign/, and stratus-backend.pc
  headers     each installed header compiles alone with nothing but
              `pkg-config --cflags stratus-backend` (no header of the
              tree is reachable)
  build       examples/plugin (memory.c, its Makefile) builds against the
              staged install through pkg-config
  contract    the daemon of this build loads the plugin from a directory
              of its own and the blob conformance table runs on a memory
              store, every case (copies and presigned URLs are the core's:
              the plugin has neither)
  refusals    a plugin of another interface version, and one that lacks a
              mandatory operation, stop the daemon with the reason
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blob_conformance as conf  # noqa: E402
import stratus  # noqa: E402

BUILDDIR = os.environ.get("STRATUS_BUILDDIR")
SRCDIR = stratus.TOP_SRCDIR
CC = os.environ.get("CC", "cc")

# Broken plugins: (what is wrong, a line of C replacing the backend
# struct, what the daemon must say).
BROKEN = [
    ("another interface version",
     "const struct st_backend stratus_backend = { .version = 99, "
     ".name = \"odd\", .kinds = ST_KIND_BLOB };",
     "no backend of interface version"),
    ("a mandatory operation missing",
     "static void nop(struct st_call *c) { (void)c; }\n"
     "static void cl(void *p) { (void)p; }\n"
     "static int op(const config_setting_t *g, const struct st_store_env *e,"
     " void **s, char *err, size_t n) { (void)g; (void)e; (void)err;"
     " (void)n; *s = 0; return 0; }\n"
     "static const struct st_blob_ops ops = { .head = nop, .get = nop };\n"
     "const struct st_backend stratus_backend = { .version = "
     "ST_BACKEND_VERSION, .name = \"half\", .kinds = ST_KIND_BLOB, "
     ".store_open = op, .store_close = cl, .blob = &ops };",
     "lacks a blob operation"),
]


class MemoryProfile:
    """Stores of the example plugin (in the daemon's memory)."""
    name = "memory"
    features = conf.ALL_FEATURES

    def setup(self, workdir):
        pass

    def teardown(self):
        pass

    def store_settings(self, name):
        return {"provider": "memory", "max_bytes": "256 MiB"}

    def config_extra(self):
        return ""


def run(cmd, env=None, cwd=None):
    p = subprocess.run(cmd, capture_output=True, env=env, cwd=cwd,
                       timeout=600)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


# The install targets of the kit and of libstratus (which a plugin links),
# as `make install` runs them. Not the whole `make install`: libtool
# relinks the daemon's own plugins in the build tree's .libs as it
# installs them, under the feet of the suites that load them meanwhile
# (make check -j). The whole install is what make distcheck and make
# package-check do.
KIT_TARGETS = ["install-pkglibLTLIBRARIES", "install-pkgincludeHEADERS",
               "install-kitcoreHEADERS", "install-kitsignHEADERS",
               "install-pkgconfigDATA"]


def install(tap, tmp):
    """The kit's part of make install into tmp/root; the environment for
    pkg-config."""
    root = os.path.join(tmp, "root")
    rc, out = run(["make", "-s", "-C", BUILDDIR] + KIT_TARGETS +
                  ["DESTDIR=" + root, "MAKEFLAGS="])
    tap.ok(rc == 0, "install: the kit's make install DESTDIR=...",
           out[-3000:])
    pcs = glob.glob(os.path.join(root, "**", "stratus-backend.pc"),
                    recursive=True)
    tap.ok(len(pcs) == 1, "install: stratus-backend.pc installed", str(pcs))
    if rc != 0 or len(pcs) != 1:
        return None, None
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=root)
    return root, env


def kit_headers(root):
    inc = glob.glob(os.path.join(root, "**", "include", "stratus"),
                    recursive=True)
    if len(inc) != 1:
        return inc, []
    found = []
    for sub in ("", "core", "sign"):
        for h in sorted(glob.glob(os.path.join(inc[0], sub, "*.h"))):
            found.append(os.path.relpath(h, inc[0]))
    return inc, found


def check_headers(tap, tmp, root, env):
    inc, headers = kit_headers(root)
    want = {"backend.h", "core/pcall.h", "core/confval.h", "core/creds.h",
            "core/conn.h", "core/transfer.h", "core/stream.h",
            "sign/sigv4.h", "sign/azure_sign.h", "sign/hmac.h"}
    tap.ok(want <= set(headers), "headers: the kit is installed (%d "
           "headers)" % len(headers), "missing: %s" % sorted(
               want - set(headers)))
    private = {"core/call.h", "core/registry.h", "core/iopool.h"}
    tap.ok(not private & set(headers), "headers: the core's private "
           "headers are not", str(sorted(private & set(headers))))
    rc, cflags = run(["pkg-config", "--cflags", "stratus-backend"], env=env)
    tap.ok(rc == 0 and root in cflags, "headers: pkg-config --cflags "
           "points into the install", cflags)
    bad = []
    src = os.path.join(tmp, "one.c")
    for h in headers:
        name = "stratus/backend.h" if h == "backend.h" else h
        with open(src, "w") as f:
            f.write("#include \"%s\"\nint main(void) { return 0; }\n" % name
                    if "/" in h else "#include <%s>\n"
                    "int main(void) { return 0; }\n" % name)
        rc, out = run([CC, "-std=c11", "-D_GNU_SOURCE", "-fsyntax-only",
                       "-Wall", "-Werror"] + cflags.split() + [src])
        if rc != 0:
            bad.append("%s:\n%s" % (h, out[-1500:]))
    tap.ok(headers and not bad, "headers: each compiles alone with the "
           "kit's flags only", "\n".join(bad))


def build_example(tap, tmp, env):
    work = os.path.join(tmp, "plugin")
    shutil.copytree(os.path.join(SRCDIR, "examples", "plugin"), work)
    rc, out = run(["make", "-C", work, "MAKEFLAGS=", "CC=" + CC,
                   "CFLAGS=-O1 -g -Wall -Wextra -Werror"], env=env)
    so = os.path.join(work, "memory.so")
    tap.ok(rc == 0 and os.path.exists(so), "build: examples/plugin builds "
           "through pkg-config", out[-3000:])
    rc, out = run(["pkg-config", "--variable=backenddir", "stratus-backend"],
                  env=env)
    tap.ok(rc == 0 and out.strip().endswith("/stratus/backends"),
           "build: pkg-config names the backend directory", out)
    if not os.path.exists(so):
        return None
    plugins = os.path.join(tmp, "backends")
    os.mkdir(plugins)
    shutil.copy(so, plugins)
    return plugins


def check_refusals(tap, tmp, env):
    """Broken plugins stop the daemon with the reason."""
    rc, cflags = run(["pkg-config", "--cflags", "stratus-backend"], env=env)
    for what, struct, says in BROKEN:
        d = os.path.join(tmp, "broken-%d" % BROKEN.index((what, struct, says)))
        os.mkdir(d)
        src = os.path.join(d, "b.c")
        with open(src, "w") as f:
            f.write("#include <stratus/backend.h>\n%s\n" % struct)
        rc, out = run([CC, "-std=c11", "-fPIC", "-shared", "-o",
                       os.path.join(d, "b.so"), src] + cflags.split())
        if rc != 0:
            tap.ok(False, "refusals: %s builds" % what, out)
            continue
        cfg = os.path.join(d, "stratus.conf")
        with open(cfg, "w") as f:
            f.write(stratus.make_config(stores=[stratus.store_conf(
                "x", {"provider": "local", "path": os.path.join(d, "x")})]))
        denv = stratus.sanitizer_env(dict(os.environ,
                                          STRATUS_BACKEND_DIR=d))
        rc, out = run([stratus.stratusd_path(), "--check-config",
                       "--config", cfg], env=denv)
        tap.ok(rc != 0 and says in out, "refusals: %s: refused, '%s'"
               % (what, says), out[-2000:])


def main():
    tap = stratus.TAP()
    if not BUILDDIR or not shutil.which("pkg-config") or \
            not shutil.which(CC):
        tap.skip("plugin kit", "needs STRATUS_BUILDDIR (make check), "
                 "pkg-config and a C compiler")
        tap.done()
    with tempfile.TemporaryDirectory(prefix="stratus-kit-") as tmp:
        root, env = install(tap, tmp)
        if root is None:
            tap.done()
        for step in (check_headers, ):
            try:
                step(tap, tmp, root, env)
            except Exception:
                tap.ok(False, step.__name__, traceback.format_exc())
        plugins = build_example(tap, tmp, env)
        try:
            check_refusals(tap, tmp, env)
        except Exception:
            tap.ok(False, "refusals", traceback.format_exc())
        if plugins is not None:
            os.environ["STRATUS_BACKEND_DIR"] = plugins
            conf.run(MemoryProfile(), tap)
    tap.done()


if __name__ == "__main__":
    main()
