//! espgate's control plane: IKEv1 as a sans-IO core, the crypto suite it needs and the SA manager.
#![forbid(unsafe_code)]
