export { DEV_ACCOUNTS, DEV_DERIVATION_PATH, DEV_MNEMONIC, type DevAccount } from "./dev-accounts.ts";
export { HELP_DEFAULTS } from "./options.ts";
export { buildProgram, main } from "./program.ts";
