// Playwright for the dashboard test (`crates/photon-node/tests/ui.rs` starts the nodes and runs
// this). It drives the system's Chromium (Debian's `chromium`): Playwright's own browsers are
// not downloaded.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: /.*\.spec\.mjs$/,
  timeout: 180_000,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: [['line']],
  outputDir: process.env.PHOTON_UI_RESULTS || 'test-results',
  use: {
    browserName: 'chromium',
    launchOptions: {
      executablePath: process.env.PHOTON_CHROMIUM || '/usr/bin/chromium',
      args: ['--disable-gpu', '--disable-dev-shm-usage'],
    },
    viewport: { width: 1100, height: 850 },
    actionTimeout: 20_000,
    trace: 'off',
    // a failure leaves its page as it was (kept by ui.rs, see its message)
    screenshot: 'only-on-failure',
  },
});
