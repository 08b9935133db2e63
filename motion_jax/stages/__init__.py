"""Reusable training/evaluation stages that experiments compose (e.g. BIGE: vqvae -> surrogate ->
guidance). Each stage is a function of (config section, arrays, workdir) built on
motion_jax.train."""
