#!/usr/bin/env node
// Compiles contracts/src/*.sol with the pinned solcjs (npm `solc`, see package.json) using
// standard JSON input, and writes one artifact per contract to contracts/artifacts/:
// {contractName, abi, bytecode, deployedBytecode}. With --check it writes nothing and exits
// 1 if the committed artifacts differ from a fresh compile, so sources and artifacts never drift.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const solc = require('solc');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'contracts', 'src');
const outDir = path.join(root, 'contracts', 'artifacts');
const check = process.argv.includes('--check');

// The contracts that ship; interfaces and helpers get no artifact.
const SHIPPED = ['SecretRegistry', 'TokensNetwork', 'TestERC20', 'TestERC223', 'TestApproveAndCallToken',
  // test only: attackers and hostile tokens for the fund-safety tests
  'TestFeeToken', 'TestForwarder', 'TestHostileParticipant'];

const sources = {};
for (const file of fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(srcDir, file), 'utf8') };
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    // paris: no PUSH0/MCOPY/transient storage, so the bytecode runs on every EVM chain.
    evmVersion: 'paris',
    viaIR: true,
    optimizer: { enabled: true, runs: 1000000 },
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: importCallback }));
function importCallback(p) {
  const full = path.join(srcDir, p.replace(/^\.\//, ''));
  return fs.existsSync(full) ? { contents: fs.readFileSync(full, 'utf8') } : { error: `not found: ${p}` };
}

const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

let drift = false;
if (!check) fs.mkdirSync(outDir, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!SHIPPED.includes(name)) continue;
    const artifact = {
      contractName: name,
      sourceName: `contracts/src/${file}`,
      compiler: `solc ${solc.version()}`,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
    };
    const text = JSON.stringify(artifact, null, 2) + '\n';
    const target = path.join(outDir, `${name}.json`);
    if (check) {
      const old = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
      if (old !== text) {
        console.error(`artifact out of date: contracts/artifacts/${name}.json (run: make contracts)`);
        drift = true;
      }
    } else {
      fs.writeFileSync(target, text);
      console.log(`wrote contracts/artifacts/${name}.json (${c.evm.deployedBytecode.object.length / 2} bytes runtime)`);
    }
  }
}
process.exit(drift ? 1 : 0);
