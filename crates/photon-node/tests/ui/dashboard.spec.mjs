// The dashboard in a real browser against real nodes on anvil (see ui.rs for the set-up):
// Alice opens a channel to Bob from the page, pays him from the page while Bob's page updates
// live, a bad amount shows an error and sends nothing, a double click pays once, the channel is
// closed from the page; the pages work by keyboard and at phone width; a node with an API
// token asks for it. Each page's screenshot goes to PHOTON_UI_SCREENSHOTS.
import { test, expect } from '@playwright/test';
import path from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through \`cargo test -p photon-node --test ui\``);
  return value;
};
const ALICE = env('PHOTON_UI_ALICE');
const BOB = env('PHOTON_UI_BOB');
const CHARLIE = env('PHOTON_UI_CHARLIE');
const CHARLIE_TOKEN = env('PHOTON_UI_CHARLIE_TOKEN');
const BOB_ADDRESS = env('PHOTON_UI_BOB_ADDRESS');
const TOKEN = env('PHOTON_UI_TOKEN');
const SHOTS = process.env.PHOTON_UI_SCREENSHOTS || 'screenshots';

test.describe.configure({ mode: 'serial' });

// no page breaks a rule of its content security policy or throws
let problems = [];
function watch(page) {
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Uncaught/.test(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  return page;
}
test.beforeEach(({ page }) => {
  problems = [];
  watch(page);
});
test.afterEach(() => {
  expect(problems).toEqual([]);
});

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

async function api(base, route) {
  const res = await fetch(`${base}/api/v1${route}`);
  if (!res.ok) throw new Error(`${route}: ${res.status}`);
  return res.json();
}

async function bobReceived() {
  return (await api(BOB, '/payments?direction=received')).length;
}

test('the overview shows the node, its chain and what it can send', async ({ page }) => {
  await page.goto(`${ALICE}/ui/`);
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  const status = await api(ALICE, '/status');
  await expect(page.locator('.facts')).toContainText(status.address);
  await expect(page.locator('#health')).toContainText('block');
  await shot(page, 'overview');
});

test('a channel opened from the page appears with its balances', async ({ page }) => {
  await page.goto(`${ALICE}/ui/#/channels`);
  await page.getByLabel('Token').selectOption(TOKEN);
  await page.getByLabel('Partner').fill(BOB_ADDRESS);
  await page.getByLabel('Deposit').fill('50');
  await page.getByRole('button', { name: 'Open…' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText('Open a channel in PTT');
  await expect(dialog).toContainText('depositing 50 PTT');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.locator('.result')).toContainText(/Transaction 0x[0-9a-f]{64}/);
  const card = page.locator(`article[data-partner="${BOB_ADDRESS.toLowerCase()}"]`);
  await expect(card.locator('.our-balance')).toHaveText('50 PTT');
  await expect(card.locator('.state')).toHaveText('open');
  // the bar shows it: all of it is Alice's
  const bar = await card.locator('.bar').boundingBox();
  const ours = await card.locator('.bar .ours').boundingBox();
  expect(ours.width).toBeGreaterThan(bar.width * 0.99);
  // Escape cancels: nothing happens
  await card.getByRole('button', { name: 'Close…' }).click();
  await expect(dialog).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(card.locator('.state')).toHaveText('open');
  // a deposit, confirmed with Enter in its amount field
  await card.getByRole('button', { name: 'Deposit…' }).click();
  await expect(dialog.getByLabel('Amount (PTT)')).toBeFocused();
  await page.keyboard.type('1');
  await page.keyboard.press('Enter');
  await expect(page.locator('.result')).toContainText(/Deposit: transaction 0x[0-9a-f]{64}/);
  await expect(card.locator('.our-balance')).toHaveText('51 PTT');
  await shot(page, 'channels');
});

test('a bad amount shows an error in words and sends nothing', async ({ page }) => {
  const before = await bobReceived();
  const sent = [];
  page.on('request', (r) => { if (r.method() !== 'GET') sent.push(`${r.method()} ${r.url()}`); });
  await page.goto(`${ALICE}/ui/#/pay`);
  await page.getByLabel('Target').fill(BOB_ADDRESS);
  for (const [amount, words] of [['ten', 'is not an amount'], ['0.0000000000000000001', 'has 18 decimals'], ['0', 'more than zero']]) {
    await page.getByLabel('Amount').fill(amount);
    await page.getByRole('button', { name: 'Show the route' }).click();
    await expect(page.getByRole('alert').filter({ hasText: words })).toBeVisible();
    await expect(page.locator('#pay-confirm')).toHaveCount(0);
  }
  await page.getByLabel('Target').fill('0x1234');
  await page.getByLabel('Amount').fill('1');
  await page.getByRole('button', { name: 'Show the route' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'must be an address' })).toBeVisible();
  expect(sent).toEqual([]);
  expect(await bobReceived()).toBe(before);
});

test('a payment made from the page shows up live on the payee’s page, once', async ({ page, browser }) => {
  const bobPage = watch(await browser.newPage());
  await bobPage.goto(`${BOB}/ui/#/payments`);
  await expect(bobPage.getByRole('heading', { name: 'History' })).toBeVisible();
  await bobPage.evaluate(() => { window.notReloaded = true; });
  await expect(bobPage.locator('#health')).not.toContainText('not live');

  await page.goto(`${ALICE}/ui/#/pay`);
  await page.getByLabel('Target').fill(BOB_ADDRESS);
  await page.getByLabel('Amount').fill('2.5');
  await page.getByLabel('Memo').fill('<b>table 7</b>');
  await page.getByRole('button', { name: 'Show the route' }).click();
  await expect(page.locator('.preview')).toContainText('Directly through your channel: no fee.');
  await shot(page, 'pay');
  // every payment request goes out twice, as a retried request would: the payment id the
  // page chose makes the second one answer the first payment, not pay again
  const posted = [];
  await page.route('**/api/v1/payments/**', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    posted.push(route.request().postDataJSON());
    const first = await route.fetch();
    await route.fetch();
    return route.fulfill({ response: first });
  });
  // and a double click pays once
  await page.locator('#pay-confirm').dblclick();
  await expect(page.getByRole('status').filter({ hasText: 'paid' })).toBeVisible();
  expect(posted.length).toBe(1);
  expect(posted[0].fee_limit).toBe('0');

  const row = bobPage.locator('tbody tr', { hasText: '2.5 PTT' });
  await expect(row).toContainText('received');
  // the memo is text, not markup
  await expect(row).toContainText('<b>table 7</b>');
  await expect(row.locator('b')).toHaveCount(0);
  expect(await bobPage.evaluate(() => window.notReloaded)).toBe(true);
  await page.waitForTimeout(1000);
  expect(await bobReceived()).toBe(1);
  await shot(bobPage, 'payments');
  // the channel page of the payer shows the new balance
  await page.goto(`${ALICE}/ui/#/channels`);
  await expect(page.locator(`article[data-partner="${BOB_ADDRESS.toLowerCase()}"] .our-balance`)).toHaveText('48.5 PTT');
  await bobPage.close();
  // and the overview what Alice can send and receive
  await page.goto(`${ALICE}/ui/#/overview`);
  const ptt = page.locator('tbody tr', { hasText: 'PTT' });
  await expect(ptt).toContainText('48.5 PTT');
  await expect(ptt).toContainText('2.5 PTT');
  await shot(page, 'overview');
});

test('a swap made from the page shows the hash to give the taker, and is cancelled from it', async ({ page }) => {
  await page.goto(`${ALICE}/ui/#/swaps`);
  await expect(page.getByRole('heading', { name: 'Swaps', exact: true })).toBeVisible();
  await page.getByLabel('Counterparty').fill(BOB_ADDRESS);
  await page.getByLabel('Amount I pay').fill('1');
  // the token Alice is paid in needs no channel of hers
  const other = '0x00000000000000000000000000000000000000aa';
  await page.getByLabel('I receive', { exact: true }).fill(other);
  await page.getByLabel('Amount I receive').fill('3');
  await page.getByRole('button', { name: 'Review the swap' }).click();
  await expect(page.locator('#confirm')).toContainText('you pay 1 PTT');
  await page.locator('#confirm-ok').click();
  const hash = (await page.locator('.swap-hash').textContent()).trim();
  expect(hash).toMatch(/^0x[0-9a-f]{64}$/);
  const row = page.locator('#swaps tbody tr', { hasText: 'waiting' });
  await expect(row).toContainText('maker');
  await shot(page, 'swaps');
  await row.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#confirm-ok').click();
  await expect(page.locator('#swaps tbody tr').first()).toContainText('cancelled');
  expect((await api(ALICE, `/swaps/${hash}`)).state).toBe('cancelled');
  // the same token on both sides is refused on the page, nothing sent
  await page.getByLabel('I receive', { exact: true }).fill(TOKEN);
  await page.getByRole('button', { name: 'Review the swap' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'two different tokens' })).toBeVisible();
  expect((await api(ALICE, '/swaps')).length).toBe(1);
});

test('the network page draws the graph around the node', async ({ page }) => {
  await page.goto(`${ALICE}/ui/#/network`);
  await page.getByLabel('Token').selectOption(TOKEN);
  const graph = page.getByRole('img', { name: /Channel graph/ });
  await expect(graph).toBeVisible();
  // Alice, Bob, and Charlie two hops away (Bob's channel with Charlie)
  await expect(graph.locator('circle')).toHaveCount(3);
  await expect(graph.locator('line')).toHaveCount(2);
  await shot(page, 'network');
});

test('a channel closed from the page changes state without a reload', async ({ page }) => {
  await page.goto(`${ALICE}/ui/#/channels`);
  const card = page.locator(`article[data-partner="${BOB_ADDRESS.toLowerCase()}"]`);
  await page.evaluate(() => { window.notReloaded = true; });
  await card.getByRole('button', { name: 'Close…' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText('settles 100 blocks after the close');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await expect(card.locator('.state')).toHaveText('closed');
  await expect(card).toContainText('Closed at');
  // the resulting transaction, from the node's journal
  await expect(page.locator('.result')).toContainText(/Close (sent|mined), transaction 0x[0-9a-f]{64}/);
  expect(await page.evaluate(() => window.notReloaded)).toBe(true);
  await expect(card.getByRole('button', { name: 'Deposit…' })).toBeDisabled();
});

test('the pages work by keyboard alone', async ({ page }) => {
  await page.goto(`${ALICE}/ui/`);
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to the page' })).toBeFocused();
  // through the navigation to Payments, then Enter
  for (let i = 0; i < 4; i += 1) await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Payments' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'History' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Payments' })).toHaveAttribute('aria-current', 'page');
  // every form control has a name a screen reader reads
  for (const view of ['channels', 'pay', 'payments', 'swaps', 'network']) {
    await page.goto(`${ALICE}/ui/#/${view}`);
    await expect(page.locator('main h2').first()).toBeVisible();
    const unnamed = await page.evaluate(() => [...document.querySelectorAll('main input, main select')]
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map((el) => el.id));
    expect(unnamed, view).toEqual([]);
  }
});

test('at phone width every page fits the screen', async ({ browser }) => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = watch(await phone.newPage());
  const loaded = { overview: '.facts dd', channels: 'article.channel', pay: '#pay-target', payments: 'tbody tr', swaps: '#swaps tbody tr', network: '.graph svg' };
  for (const view of ['overview', 'channels', 'pay', 'payments', 'swaps', 'network']) {
    await page.goto(`${ALICE}/ui/#/${view}`);
    await expect(page.locator('main h2').first()).toBeVisible();
    await expect(page.locator(loaded[view]).first()).toBeVisible();
    const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
    expect(scroll, `${view} is wider than the screen`).toBeLessThanOrEqual(width);
    await shot(page, `phone-${view}`);
  }
  await phone.close();
});

test('a node with an API token asks for it, and a wrong one is refused', async ({ page }) => {
  await page.goto(`${CHARLIE}/ui/`);
  await expect(page.getByRole('heading', { name: 'API token' })).toBeVisible();
  await page.getByLabel('Token').fill('wrong');
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'The node refused this token.' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'API token' })).toBeVisible();
  await page.getByLabel('Token').fill(CHARLIE_TOKEN);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  const status = await fetch(`${CHARLIE}/api/v1/status`, { headers: { Authorization: `Bearer ${CHARLIE_TOKEN}` } }).then((r) => r.json());
  await expect(page.locator('.facts')).toContainText(status.address);
});
