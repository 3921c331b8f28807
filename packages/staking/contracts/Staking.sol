// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title Meridian proof-of-stake staking system contract
/// @notice Lives at 0x0000000000000000000000000000000000001000 from genesis. Holds every staked,
///         unbonding and reward wei; the node drives epochs, rewards, downtime and slashing
///         through system calls from SYSTEM_ADDRESS (see packages/staking/README.md).
/// @dev A validator is named by its signer (consensus key) address everywhere. Delegations are
///      shares of a validator's stake pool, so slashing the pool slashes every delegator pro
///      rata in O(1); unbonding stake sits in a second per-validator share pool that is slashed
///      the same way. Rewards use a reward-per-share accumulator (O(signers) per block).
///      There are no immutables: the runtime code is the same for every deployment and all
///      parameters live in storage, so a genesis can carry code + storage only.
contract Staking {
    /// @notice The sender of node system calls (the one EIP-4788/2935 use).
    address public constant SYSTEM_ADDRESS = 0xffffFFFfFFffffffffffffffFfFFFfffFFFfFFfE;
    /// @notice Basis points denominator for commission, proposer bonus, slash and downtime shares.
    uint256 public constant BPS = 10_000;
    /// @notice Fixed-point precision of the reward-per-share accumulator.
    uint256 public constant REWARD_PRECISION = 1e18;

    /// @notice Chain parameters, fixed at genesis.
    struct Params {
        uint256 minStake; // least total stake to be eligible for the active set; least self-stake to register
        uint256 powerUnit; // consensus power = stake / powerUnit
        uint256 issuancePerBlock; // wei the node credits to this contract before each distributeRewards
        uint64 epochLength; // blocks per epoch (the node calls endEpoch at the last block of each)
        uint64 unbondingEpochs; // epochs an undelegation waits before withdraw pays it
        uint64 jailEpochs; // epochs a jailed validator waits before unjail
        uint64 downtimeWindow; // sliding window of blocks for downtime tracking
        uint32 maxValidators; // largest active set
        uint16 downtimeMaxMissedBps; // missing more than window * this / BPS blocks in the window jails
        uint16 slashFractionBps; // share of stake (and unbonding stake) burned on duplicate-vote evidence
        uint16 proposerBonusBps; // share of each block's rewards paid to the previous block's proposer
    }

    /// @notice A genesis (constructor) validator: registered and staked before block 1.
    struct GenesisValidator {
        address owner;
        address signer;
        uint16 commissionBps;
        uint256 stake;
    }

    struct Validator {
        address owner;
        uint16 commissionBps;
        bool jailed;
        uint64 jailedUntilEpoch;
        uint256 totalStake; // bonded wei (self-stake and delegations, after slashing)
        uint256 totalShares; // delegation shares of totalStake
        uint256 unbondingStake; // wei waiting to be withdrawn, still slashable
        uint256 unbondingShares; // unbonding-pool shares of unbondingStake
        uint256 accRewardPerShare; // delegator rewards per share, times REWARD_PRECISION
        uint64 missCount; // misses recorded since registration or last jailing/unjail
        uint64 lastRewardedBlock; // de-duplicates signers within one distributeRewards
        uint64 lastMissedBlock; // de-duplicates absentees within one block
        uint256 rewardPool; // delegator rewards credited and not yet settled; caps settlements
    }

    struct Delegation {
        uint256 shares;
        uint256 rewardDebt; // shares * accRewardPerShare / REWARD_PRECISION at the last settlement
        bool listed; // whether the validator is in delegatedTo[delegator]
    }

    /// @notice One pending undelegation.
    struct Unbonding {
        address validator;
        uint64 releaseEpoch;
        uint256 shares; // shares of the validator's unbonding pool
    }

    // ---- storage (genesisStorage() in src/genesis.ts writes these slots; keep them in sync) ----
    Params internal _params;
    /// @notice The epoch whose active set getValidators() returns.
    uint64 public currentEpoch;
    /// @notice Wei this contract owes (stakes, unbonding, credited rewards); the rest of its balance
    ///         is new fees + issuance not yet distributed.
    uint256 public accountedBalance;
    /// @notice Sum of every validator's bonded stake.
    uint256 public totalStaked;
    /// @notice Sum of every validator's unbonding stake.
    uint256 public totalUnbonding;
    /// @notice Wei burned by slashing (sent to address(0)).
    uint256 public totalBurned;
    mapping(address signer => Validator) internal _validators;
    /// @notice The signer of the validator an owner registered (zero if none).
    mapping(address owner => address signer) public validatorOfOwner;
    mapping(address signer => mapping(address delegator => Delegation)) internal _delegations;
    mapping(address delegator => address[] signers) internal _delegatedTo;
    mapping(address delegator => Unbonding[]) internal _unbondings;
    /// @notice Settled, unpaid rewards of an account (commission and settled delegator rewards).
    mapping(address account => uint256) public rewardsOwed;
    address[] internal _validatorList;
    address[] internal _activeSigners;
    /// @notice Consensus power in the current epoch's active set (zero if not in it).
    mapping(address signer => uint256) public activePower;
    mapping(address signer => mapping(uint256 ring => uint256 blockNumber)) internal _missedBlocks;

    // ---- events ----
    event ValidatorRegistered(address indexed signer, address indexed owner, uint16 commissionBps, uint256 selfStake);
    event Delegated(address indexed signer, address indexed delegator, uint256 amount, uint256 shares);
    event Undelegated(address indexed signer, address indexed delegator, uint256 amount, uint64 releaseEpoch);
    event Withdrawn(address indexed delegator, uint256 amount);
    event RewardsClaimed(address indexed account, uint256 amount);
    event ValidatorRewarded(address indexed signer, uint256 commission, uint256 delegatorsReward);
    event RewardsDistributed(address indexed proposer, uint256 incoming, uint256 distributed);
    event BlockMissed(address indexed signer, uint256 blockNumber, uint64 missCount);
    event Jailed(address indexed signer, uint64 jailedUntilEpoch, bool slashed);
    event Unjailed(address indexed signer);
    event Slashed(address indexed signer, uint256 bondedBurned, uint256 unbondingBurned);
    event EpochEnded(uint64 indexed newEpoch, uint256 validatorCount, uint256 totalPower);

    // ---- errors ----
    error NotSystem(address caller);
    error InvalidParams(string reason);
    error GenesisValueMismatch(uint256 sent, uint256 stakes);
    error StakeTooLow(uint256 amount, uint256 minStake);
    error OwnerAlreadyRegistered(address owner, address signer);
    error SignerAlreadyRegistered(address signer);
    error InvalidSigner();
    error CommissionTooHigh(uint16 commissionBps);
    error UnknownValidator(address signer);
    error ZeroAmount();
    error InsufficientStake(uint256 staked, uint256 requested);
    error NothingToWithdraw();
    error NothingToClaim();
    error NotValidatorOwner(address caller, address owner);
    error NotJailed(address signer);
    error JailPeriodNotOver(uint64 currentEpoch, uint64 jailedUntilEpoch);
    error TransferFailed(address to, uint256 amount);

    modifier onlySystem() {
        if (msg.sender != SYSTEM_ADDRESS) revert NotSystem(msg.sender);
        _;
    }

    /// @notice Test and non-genesis deployments: the same state a genesis alloc carries.
    /// @param initialParams Chain parameters.
    /// @param genesisValidators Validators registered and staked (msg.value must equal their stakes);
    ///        they form the active set of epoch 0.
    constructor(Params memory initialParams, GenesisValidator[] memory genesisValidators) payable {
        if (initialParams.powerUnit == 0 || initialParams.minStake < initialParams.powerUnit) revert InvalidParams("minStake < powerUnit");
        if (initialParams.maxValidators == 0) revert InvalidParams("maxValidators");
        if (initialParams.slashFractionBps >= BPS) revert InvalidParams("slashFractionBps");
        if (initialParams.proposerBonusBps > BPS) revert InvalidParams("proposerBonusBps");
        if (initialParams.downtimeMaxMissedBps > BPS || initialParams.downtimeWindow == 0) revert InvalidParams("downtime");
        if (initialParams.epochLength == 0) revert InvalidParams("epochLength");
        _params = initialParams;
        uint256 stakes;
        for (uint256 i = 0; i < genesisValidators.length; i++) {
            GenesisValidator memory g = genesisValidators[i];
            _register(g.owner, g.signer, g.commissionBps, g.stake);
            stakes += g.stake;
        }
        if (stakes != msg.value) revert GenesisValueMismatch(msg.value, stakes);
        _selectActiveSet();
    }

    // =============================== user functions ===============================

    /// @notice Registers the caller as the owner of a new validator; msg.value is its self-stake.
    /// @param signer The validator's consensus key address; names the validator from now on.
    /// @param commissionBps Share of the validator's rewards paid to its owner, in basis points.
    function registerValidator(address signer, uint16 commissionBps) external payable {
        _register(msg.sender, signer, commissionBps, msg.value);
    }

    /// @notice Delegates msg.value to a validator (allowed while it is jailed).
    /// @param validator The validator's signer address.
    function delegate(address validator) external payable {
        if (msg.value == 0) revert ZeroAmount();
        Validator storage v = _validatorOrRevert(validator);
        _bond(validator, v, msg.sender, msg.value);
        accountedBalance += msg.value;
    }

    /// @notice Starts unbonding `amount` of the caller's stake with a validator; withdraw() pays it
    ///         after `unbondingEpochs` epochs. Unbonding stake earns nothing but can still be slashed.
    /// @param validator The validator's signer address.
    /// @param amount Wei to unbond (at most stakeOf(validator, msg.sender)).
    function undelegate(address validator, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Validator storage v = _validatorOrRevert(validator);
        Delegation storage d = _delegations[validator][msg.sender];
        uint256 staked = _stakeOf(v, d);
        if (amount > staked) revert InsufficientStake(staked, amount);
        _settle(v, d, msg.sender);
        // Round the burnt shares up so the remaining holders never lose to rounding.
        uint256 sharesBurnt = (amount * v.totalShares + v.totalStake - 1) / v.totalStake;
        d.shares -= sharesBurnt;
        d.rewardDebt = (d.shares * v.accRewardPerShare) / REWARD_PRECISION;
        v.totalShares -= sharesBurnt;
        v.totalStake -= amount;
        totalStaked -= amount;

        uint256 poolShares = v.unbondingShares == 0 || v.unbondingStake == 0
            ? amount
            : (amount * v.unbondingShares) / v.unbondingStake;
        v.unbondingShares += poolShares;
        v.unbondingStake += amount;
        totalUnbonding += amount;
        uint64 releaseEpoch = currentEpoch + _params.unbondingEpochs;
        _unbondings[msg.sender].push(Unbonding({validator: validator, releaseEpoch: releaseEpoch, shares: poolShares}));
        emit Undelegated(validator, msg.sender, amount, releaseEpoch);
    }

    /// @notice Pays the caller every undelegation whose unbonding period has ended.
    function withdraw() external {
        Unbonding[] storage list = _unbondings[msg.sender];
        uint256 total;
        uint256 i = 0;
        while (i < list.length) {
            Unbonding memory u = list[i];
            if (u.releaseEpoch > currentEpoch) {
                i++;
                continue;
            }
            Validator storage v = _validators[u.validator];
            uint256 amount = u.shares == 0 ? 0 : (u.shares * v.unbondingStake) / v.unbondingShares;
            v.unbondingStake -= amount;
            v.unbondingShares -= u.shares;
            total += amount;
            list[i] = list[list.length - 1];
            list.pop();
        }
        if (total == 0) revert NothingToWithdraw();
        totalUnbonding -= total;
        accountedBalance -= total;
        emit Withdrawn(msg.sender, total);
        _pay(msg.sender, total);
    }

    /// @notice Pays the caller's rewards: commission as an owner and pending delegator rewards with
    ///         every validator it delegated to.
    function claimRewards() external {
        address[] storage signers = _delegatedTo[msg.sender];
        for (uint256 i = 0; i < signers.length; i++) {
            _settle(_validators[signers[i]], _delegations[signers[i]][msg.sender], msg.sender);
        }
        uint256 amount = rewardsOwed[msg.sender];
        if (amount == 0) revert NothingToClaim();
        rewardsOwed[msg.sender] = 0;
        accountedBalance -= amount;
        emit RewardsClaimed(msg.sender, amount);
        _pay(msg.sender, amount);
    }

    /// @notice Lifts a validator's jail once its jail epochs are over; only its owner may. It
    ///         rejoins the active set at the next epoch end if its stake is still enough.
    /// @param validator The validator's signer address.
    function unjail(address validator) external {
        Validator storage v = _validatorOrRevert(validator);
        if (msg.sender != v.owner) revert NotValidatorOwner(msg.sender, v.owner);
        if (!v.jailed) revert NotJailed(validator);
        if (currentEpoch < v.jailedUntilEpoch) revert JailPeriodNotOver(currentEpoch, v.jailedUntilEpoch);
        v.jailed = false;
        v.missCount = 0;
        emit Unjailed(validator);
    }

    // =============================== system calls ===============================

    /// @notice Start of each block: splits new wei (previous block's fees and this block's issuance,
    ///         i.e. balance - accountedBalance) between the previous block's proposer (bonus) and
    ///         the signers of its commit (by active power). Unknown, inactive, jailed and repeated
    ///         addresses are ignored; what cannot be split (no signer power, rounding) stays
    ///         unaccounted and is split with the next block's.
    /// @param proposer Signer address of the previous block's proposer.
    /// @param signers Signer addresses that signed the previous block's commit.
    function distributeRewards(address proposer, address[] calldata signers) external onlySystem {
        uint256 incoming = address(this).balance - accountedBalance;
        uint256 distributed;
        if (incoming > 0) {
            uint256 pot = incoming;
            if (_earns(proposer)) {
                uint256 bonus = (incoming * _params.proposerBonusBps) / BPS;
                if (bonus > 0) {
                    _reward(proposer, bonus);
                    distributed += bonus;
                    pot -= bonus;
                }
            }
            address[] memory unique = new address[](signers.length);
            uint256 count;
            uint256 signerPower;
            uint64 blockNumber = uint64(block.number);
            for (uint256 i = 0; i < signers.length; i++) {
                address s = signers[i];
                if (!_earns(s)) continue;
                Validator storage v = _validators[s];
                if (v.lastRewardedBlock == blockNumber) continue;
                v.lastRewardedBlock = blockNumber;
                unique[count++] = s;
                signerPower += activePower[s];
            }
            if (signerPower > 0 && pot > 0) {
                for (uint256 i = 0; i < count; i++) {
                    uint256 share = (pot * activePower[unique[i]]) / signerPower;
                    if (share == 0) continue;
                    _reward(unique[i], share);
                    distributed += share;
                }
            }
            accountedBalance += distributed;
        }
        emit RewardsDistributed(proposer, incoming, distributed);
    }

    /// @notice Each block, after distributeRewards: records validators of the active set absent
    ///         from the previous block's commit. One that missed more than
    ///         downtimeWindow * downtimeMaxMissedBps / BPS of the last downtimeWindow blocks is
    ///         jailed (not slashed) and leaves the set at the next epoch end.
    /// @param absentSigners Signer addresses of active validators that did not sign.
    function recordMissed(address[] calldata absentSigners) external onlySystem {
        uint64 blockNumber = uint64(block.number);
        uint64 window = _params.downtimeWindow;
        uint256 maxMissed = (uint256(window) * _params.downtimeMaxMissedBps) / BPS;
        for (uint256 i = 0; i < absentSigners.length; i++) {
            address s = absentSigners[i];
            if (!_earns(s)) continue;
            Validator storage v = _validators[s];
            if (v.lastMissedBlock == blockNumber) continue;
            v.lastMissedBlock = blockNumber;
            uint64 misses = v.missCount + 1;
            v.missCount = misses;
            emit BlockMissed(s, blockNumber, misses);
            if (maxMissed == 0) {
                _jail(s, v, false);
                continue;
            }
            // Ring of the last maxMissed misses: the slot we overwrite holds the maxMissed-th most
            // recent miss before this one, i.e. the (maxMissed+1)-th counting this one.
            uint256 ring = (misses - 1) % maxMissed;
            uint256 oldest = _missedBlocks[s][ring];
            _missedBlocks[s][ring] = blockNumber;
            if (misses > maxMissed && oldest + window > blockNumber) _jail(s, v, false);
        }
    }

    /// @notice Duplicate-vote evidence: burns slashFractionBps of the validator's bonded and
    ///         unbonding stake (so of every delegator's, pro rata) by sending it to address(0),
    ///         and jails it. The node must submit each piece of evidence once.
    /// @param signer The offender's signer address.
    function slash(address signer) external onlySystem {
        Validator storage v = _validatorOrRevert(signer);
        uint256 bondedBurnt = (v.totalStake * _params.slashFractionBps) / BPS;
        uint256 unbondingBurnt = (v.unbondingStake * _params.slashFractionBps) / BPS;
        v.totalStake -= bondedBurnt;
        v.unbondingStake -= unbondingBurnt;
        totalStaked -= bondedBurnt;
        totalUnbonding -= unbondingBurnt;
        uint256 burnt = bondedBurnt + unbondingBurnt;
        accountedBalance -= burnt;
        totalBurned += burnt;
        emit Slashed(signer, bondedBurnt, unbondingBurnt);
        _jail(signer, v, true);
        if (burnt > 0) _pay(address(0), burnt);
    }

    /// @notice At the last block of each epoch: selects the next active set (not jailed, total
    ///         stake >= minStake, the top maxValidators by stake, ties by lower signer address),
    ///         power = stake / powerUnit, and increments currentEpoch.
    function endEpoch() external onlySystem {
        currentEpoch += 1;
        _selectActiveSet();
    }

    // =============================== views ===============================

    /// @notice The active set of the current epoch, in selection order (stake descending).
    /// @return signers Signer addresses.
    /// @return powers Consensus powers (stake / powerUnit at the epoch start).
    function getValidators() external view returns (address[] memory signers, uint256[] memory powers) {
        signers = _activeSigners;
        powers = new uint256[](signers.length);
        for (uint256 i = 0; i < signers.length; i++) {
            powers[i] = activePower[signers[i]];
        }
    }

    /// @notice The bonded stake of `delegator` with `validator` (after slashing, before unbonding).
    /// @param validator The validator's signer address.
    /// @param delegator The delegator's address (the owner for self-stake).
    /// @return The stake in wei.
    function stakeOf(address validator, address delegator) external view returns (uint256) {
        return _stakeOf(_validators[validator], _delegations[validator][delegator]);
    }

    /// @notice A validator's registration and state (all zero for an unknown signer).
    /// @param validator The validator's signer address.
    /// @return owner The address that registered it (receives commission, may unjail).
    /// @return signer The signer address itself.
    /// @return totalStake Bonded wei of all its delegations (after slashing).
    /// @return commissionBps Owner's share of its rewards.
    /// @return jailed Whether it is jailed (leaves the set at the next epoch end).
    /// @return jailedUntilEpoch First epoch at which unjail is allowed.
    function validatorInfo(address validator)
        external
        view
        returns (
            address owner,
            address signer,
            uint256 totalStake,
            uint16 commissionBps,
            bool jailed,
            uint64 jailedUntilEpoch
        )
    {
        Validator storage v = _validators[validator];
        return (
            v.owner,
            v.owner == address(0) ? address(0) : validator,
            v.totalStake,
            v.commissionBps,
            v.jailed,
            v.jailedUntilEpoch
        );
    }

    /// @notice Least self-stake to register and least total stake to be in the active set.
    /// @return The stake in wei.
    function minStake() external view returns (uint256) {
        return _params.minStake;
    }

    /// @notice All chain parameters.
    /// @return The parameters set at genesis.
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @notice Wei the node credits to this contract before each distributeRewards.
    /// @return The per-block issuance in wei.
    function issuancePerBlock() external view returns (uint256) {
        return _params.issuancePerBlock;
    }

    /// @notice Blocks per epoch; the node calls endEpoch at each block number n with n % epochLength == 0.
    /// @return The epoch length in blocks.
    function epochLength() external view returns (uint64) {
        return _params.epochLength;
    }

    /// @notice Every registered validator's signer, in registration order.
    /// @return The signer addresses.
    function allValidators() external view returns (address[] memory) {
        return _validatorList;
    }

    /// @notice Rewards `account` would receive from claimRewards() now.
    /// @param account The owner or delegator.
    /// @return amount The claimable wei.
    function pendingRewards(address account) external view returns (uint256 amount) {
        amount = rewardsOwed[account];
        address[] storage signers = _delegatedTo[account];
        for (uint256 i = 0; i < signers.length; i++) {
            Validator storage v = _validators[signers[i]];
            Delegation storage d = _delegations[signers[i]][account];
            amount += _cappedPending(v, (d.shares * v.accRewardPerShare) / REWARD_PRECISION - d.rewardDebt);
        }
    }

    /// @notice A delegator's pending undelegations with their current (post-slash) amounts.
    /// @param delegator The delegator's address.
    /// @return validators Signer addresses.
    /// @return amounts Wei each would pay.
    /// @return releaseEpochs First epoch at which withdraw() pays each.
    function unbondingsOf(address delegator)
        external
        view
        returns (address[] memory validators, uint256[] memory amounts, uint64[] memory releaseEpochs)
    {
        Unbonding[] storage list = _unbondings[delegator];
        validators = new address[](list.length);
        amounts = new uint256[](list.length);
        releaseEpochs = new uint64[](list.length);
        for (uint256 i = 0; i < list.length; i++) {
            Validator storage v = _validators[list[i].validator];
            validators[i] = list[i].validator;
            amounts[i] = list[i].shares == 0 ? 0 : (list[i].shares * v.unbondingStake) / v.unbondingShares;
            releaseEpochs[i] = list[i].releaseEpoch;
        }
    }

    // =============================== internals ===============================

    function _register(address owner, address signer, uint16 commissionBps, uint256 stake) internal {
        if (signer == address(0)) revert InvalidSigner();
        if (commissionBps > BPS) revert CommissionTooHigh(commissionBps);
        if (stake < _params.minStake) revert StakeTooLow(stake, _params.minStake);
        address existing = validatorOfOwner[owner];
        if (existing != address(0)) revert OwnerAlreadyRegistered(owner, existing);
        Validator storage v = _validators[signer];
        if (v.owner != address(0)) revert SignerAlreadyRegistered(signer);
        v.owner = owner;
        v.commissionBps = commissionBps;
        validatorOfOwner[owner] = signer;
        _validatorList.push(signer);
        emit ValidatorRegistered(signer, owner, commissionBps, stake);
        _bond(signer, v, owner, stake);
        accountedBalance += stake;
    }

    function _bond(address signer, Validator storage v, address delegator, uint256 amount) internal {
        Delegation storage d = _delegations[signer][delegator];
        _settle(v, d, delegator);
        uint256 shares = v.totalShares == 0 || v.totalStake == 0 ? amount : (amount * v.totalShares) / v.totalStake;
        d.shares += shares;
        d.rewardDebt = (d.shares * v.accRewardPerShare) / REWARD_PRECISION;
        if (!d.listed) {
            d.listed = true;
            _delegatedTo[delegator].push(signer);
        }
        v.totalShares += shares;
        v.totalStake += amount;
        totalStaked += amount;
        emit Delegated(signer, delegator, amount, shares);
    }

    /// Moves a delegation's pending accumulator rewards into rewardsOwed. Per-holder flooring can
    /// make the holders' pending sum exceed what was credited by a few wei, so settlements are
    /// capped by the validator's rewardPool: the contract never owes more than it received.
    function _settle(Validator storage v, Delegation storage d, address delegator) internal {
        uint256 accrued = (d.shares * v.accRewardPerShare) / REWARD_PRECISION;
        uint256 pending = _cappedPending(v, accrued - d.rewardDebt);
        d.rewardDebt = accrued;
        if (pending > 0) {
            v.rewardPool -= pending;
            rewardsOwed[delegator] += pending;
        }
    }

    function _cappedPending(Validator storage v, uint256 pending) internal view returns (uint256) {
        return pending < v.rewardPool ? pending : v.rewardPool;
    }

    /// Credits exactly `amount` to a validator: commission to its owner, the rest into its reward
    /// pool, shared among its delegators through the accumulator (to the owner if it has none).
    function _reward(address signer, uint256 amount) internal {
        Validator storage v = _validators[signer];
        uint256 commission = (amount * v.commissionBps) / BPS;
        uint256 delegatorsReward = amount - commission;
        uint256 toOwner = commission;
        if (v.totalShares == 0) {
            toOwner += delegatorsReward;
        } else {
            v.accRewardPerShare += (delegatorsReward * REWARD_PRECISION) / v.totalShares;
            v.rewardPool += delegatorsReward;
        }
        if (toOwner > 0) rewardsOwed[v.owner] += toOwner;
        emit ValidatorRewarded(signer, commission, delegatorsReward);
    }

    function _earns(address signer) internal view returns (bool) {
        return activePower[signer] > 0 && !_validators[signer].jailed;
    }

    function _jail(address signer, Validator storage v, bool slashed) internal {
        uint64 until = currentEpoch + _params.jailEpochs;
        if (!v.jailed || until > v.jailedUntilEpoch) v.jailedUntilEpoch = until;
        v.jailed = true;
        v.missCount = 0;
        emit Jailed(signer, v.jailedUntilEpoch, slashed);
    }

    function _selectActiveSet() internal {
        uint256 maxCount = _params.maxValidators;
        uint256 minimum = _params.minStake;
        address[] memory top = new address[](maxCount);
        uint256[] memory stakes = new uint256[](maxCount);
        uint256 count;
        for (uint256 i = 0; i < _validatorList.length; i++) {
            address s = _validatorList[i];
            Validator storage v = _validators[s];
            uint256 stake = v.totalStake;
            if (v.jailed || stake < minimum) continue;
            if (count == maxCount && !_ranksAbove(stake, s, stakes[count - 1], top[count - 1])) continue;
            uint256 pos = count == maxCount ? count - 1 : count++;
            while (pos > 0 && _ranksAbove(stake, s, stakes[pos - 1], top[pos - 1])) {
                top[pos] = top[pos - 1];
                stakes[pos] = stakes[pos - 1];
                pos--;
            }
            top[pos] = s;
            stakes[pos] = stake;
        }
        address[] storage previous = _activeSigners;
        for (uint256 i = 0; i < previous.length; i++) {
            activePower[previous[i]] = 0;
        }
        delete _activeSigners;
        uint256 unit = _params.powerUnit;
        uint256 totalPower;
        for (uint256 i = 0; i < count; i++) {
            uint256 power = stakes[i] / unit;
            _activeSigners.push(top[i]);
            activePower[top[i]] = power;
            totalPower += power;
        }
        emit EpochEnded(currentEpoch, count, totalPower);
    }

    function _ranksAbove(uint256 stakeA, address a, uint256 stakeB, address b) internal pure returns (bool) {
        return stakeA > stakeB || (stakeA == stakeB && a < b);
    }

    function _validatorOrRevert(address signer) internal view returns (Validator storage v) {
        v = _validators[signer];
        if (v.owner == address(0)) revert UnknownValidator(signer);
    }

    function _stakeOf(Validator storage v, Delegation storage d) internal view returns (uint256) {
        if (d.shares == 0) return 0;
        return (d.shares * v.totalStake) / v.totalShares;
    }

    function _pay(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
