//! Contract bindings generated from the committed artifacts in `contracts/artifacts`.
#![allow(missing_docs, unreachable_pub, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TokensNetwork,
    "../../contracts/artifacts/TokensNetwork.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    SecretRegistry,
    "../../contracts/artifacts/SecretRegistry.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TestERC20,
    "../../contracts/artifacts/TestERC20.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TestERC223,
    "../../contracts/artifacts/TestERC223.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TestApproveAndCallToken,
    "../../contracts/artifacts/TestApproveAndCallToken.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TestFeeToken,
    "../../contracts/artifacts/TestFeeToken.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TestForwarder,
    "../../contracts/artifacts/TestForwarder.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TestHostileParticipant,
    "../../contracts/artifacts/TestHostileParticipant.json"
);
