"""papersuite: reproductions of ten ML papers as one Snakemake workflow."""
