export {
  solcVersion,
  stakingAbi,
  stakingBytecode,
  stakingDeployedBytecode,
  stakingStorageLayout,
} from "./artifact.ts";
export { STAKING_ADDRESS, SYSTEM_ADDRESS } from "./constants.ts";
export type { GenesisValidator, StakingGenesisAccount, StakingParams, StorageSlots } from "./genesis.ts";
export {
  arrayDataSlot,
  genesisStorage,
  mappingSlot,
  STAKING_GENESIS_INVALID,
  selectActiveSet,
  stakingGenesisAccount,
} from "./genesis.ts";
