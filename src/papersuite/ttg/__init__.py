"""To the Globe (TTG): language-driven guaranteed travel planning.

Ju, Jiang, Cohen, Foss, Mitts, Zharmagambetov, Amos, Li, Kao, Fazel-Zarandi, Tian; EMNLP 2024
(system demonstrations), arXiv 2410.16456.

Pipeline (paper: abstract and Fig. 2): an English request y -> the Instruction Translator (NL ->
symbolic request x̂) -> the Travel Solver (a MILP over flight and hotel tables) -> the optimal
itinerary s*(x̂).

No code, data or full text of the paper is public. Everything below the abstract's level is a
reconstruction [recon] documented in ``docs/papers/ttg.md``: the symbolic schema
(:mod:`.schema`), the time-expanded MILP (:mod:`.solver`), the synthetic world and request
generator (:mod:`.world`, :mod:`.sampling`), the NL templates (:mod:`.render`) and the tiny
seq2seq translator trained from scratch (:mod:`.translator`, :mod:`.seq2seq`). The abstract's numbers (about 91%
back-translation exact match, cost ratio 0.979, about 5 s per request) are the reference.

The workflow calls :mod:`.steps`, one function per rule. Modules import ``papersuite.core`` and
third-party libraries only; the heavy ones (torch, transformers, scipy, pulp, peft) are imported
where they are used.
"""

PAPER = "ttg"
