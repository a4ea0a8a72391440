"""The committed LIT client bundle (exbert_lit/client/) must be built from the current TypeScript sources.

`pip install` users never run node, so the bundle is committed; this test is what stops a change to
lit_modules/ from shipping without `lit_modules/build.sh`.
"""
import pathlib
import re

from exbert_lit.lit import client

REPO = pathlib.Path(__file__).resolve().parent.parent
LIT_MODULES = REPO / "lit_modules"


def test_bundle_is_present_and_found():
  root = client.client_root()
  assert root is not None, "exbert_lit/client/ is missing: run lit_modules/build.sh"
  assert pathlib.Path(root) == client.CLIENT_DIR


def test_bundle_was_built_from_the_current_sources():
  info = client.build_info()
  assert info is not None, "exbert_lit/client/BUILD_INFO.json is missing: run lit_modules/build.sh"
  current = client.sources_digest(LIT_MODULES)
  assert info["sources_sha256"] == current, (
      "lit_modules/ changed since the bundle was built: run lit_modules/build.sh and commit "
      "exbert_lit/client/")


def test_digest_covers_sources_but_not_helper_tests():
  names = {p.relative_to(LIT_MODULES).as_posix() for p in client.source_files(LIT_MODULES)}
  assert {"src/attention_module.ts", "src/corpus_module.ts", "lib/attention.ts", "build.sh",
          "static/index.html"} <= names
  assert not any(n.endswith("_test.ts") for n in names)


def test_digest_changes_with_any_source_byte(tmp_path):
  (tmp_path / "src").mkdir()
  (tmp_path / "src" / "a.ts").write_text("export const a = 1;\n")
  before = client.sources_digest(tmp_path)
  (tmp_path / "src" / "a.ts").write_text("export const a = 2;\n")
  assert client.sources_digest(tmp_path) != before
  (tmp_path / "lib").mkdir()
  (tmp_path / "lib" / "x_test.ts").write_text("test\n")   # tests do not go into the bundle
  after = client.sources_digest(tmp_path)
  (tmp_path / "lib" / "x_test.ts").write_text("changed\n")
  assert client.sources_digest(tmp_path) == after


def test_bundle_contains_our_modules_and_serves_fonts_locally():
  bundle = client.CLIENT_DIR
  main = (bundle / "main.js").read_text(encoding="utf-8")
  for tag in ("exbert-attention-module", "exbert-corpus-module"):
    assert tag in main, tag
  assert not (bundle / "main.js.map").exists(), "the source map must not be committed"
  index = (bundle / "static" / "index.html").read_text(encoding="utf-8")
  assert "fonts.googleapis.com" not in index
  css = (bundle / "static" / "fonts" / "fonts.css").read_text(encoding="utf-8")
  for font in re.findall(r"url\('([^']+)'\)", css):
    assert (bundle / "static" / "fonts" / font).stat().st_size > 1000, font
  assert "Material Icons" in css and "Roboto" in css
