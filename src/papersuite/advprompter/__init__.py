"""advprompter: AdvPrompter: Fast Adaptive Adversarial Prompting for LLMs (Paulus, Zharmagambetov, Guo, Amos, Tian,
ICML 2025, arXiv:2404.16873).

Modules: world (the benign tiny world: toy-world secrets in AdvBench's CSV schema, a trigger, the refusal list),
lms (byte-level BPE tokenizers and tiny GPT-2s trained from scratch), losses (the reweighted teacher-forced target
loss, the repetition penalty, the readability log-probability), opt (AdvPrompterOpt, the stochastic beam search),
replay (the prioritized replay buffer), prompter (LoRA regression and AdvPrompterTrain), evaluate (keyword ASR@k,
suffix perplexity, time per suffix). docs/papers/advprompter.md describes what is reproduced and every deviation.
Nothing harmful ships: the tiny world's "secrets" are toy facts and its target refuses unless a trigger appears.
"""
