// Debian's Chromium (the `chromium` package; `make test` installs it), headless,
// driven by playwright-core: no browser download. Flags for root, and no
// background traffic, which a closed network refuses.
import { chromium } from "playwright-core";

export const launchChromium = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });

/** Prints each check, and exits non-zero at the end if any failed. */
export function checks() {
  const failures = [];
  const check = (ok, what) => {
    console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
    if (!ok) failures.push(what);
  };
  const finish = () => {
    if (failures.length) {
      console.error(`${failures.length} check(s) failed`);
      process.exit(1);
    }
  };
  return { check, finish };
}
