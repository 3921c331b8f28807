import { readFileSync } from "node:fs";
import { join } from "node:path";
import solc from "solc";
import type { Abi, Hex } from "viem";
import { REPO_ROOT } from "./paths.ts";

export type Artifact = { abi: Abi; bytecode: Hex; deployedBytecode: Hex };

type SolcOutput = {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<
    string,
    Record<string, { abi: Abi; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
  >;
};

// solc-js is slow to load and compile; compile each contract once per process.
const cache = new Map<string, Artifact>();

export function compileContract(file: string, contractName: string): Artifact {
  const key = `${file}:${contractName}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const source = readFileSync(join(REPO_ROOT, "test", "contracts", file), "utf8");
  const input = {
    language: "Solidity",
    sources: { [file]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      // cancun bytecode runs unchanged under Prague rules and on older EVMs too.
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (out.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join("\n")}`);
  const c = out.contracts[file]?.[contractName];
  if (!c) throw new Error(`contract ${contractName} not found in ${file}`);
  const artifact: Artifact = {
    abi: c.abi,
    bytecode: `0x${c.evm.bytecode.object}`,
    deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
  };
  cache.set(key, artifact);
  return artifact;
}

export function meridianToken(): Artifact {
  return compileContract("MeridianToken.sol", "MeridianToken");
}
