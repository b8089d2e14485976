"""The instructor's kit: the notebooks' source format, the student release and the grader.

    python -m numpyvae.course.release --out release      # the exercise notebooks, no solution
    python -m numpyvae.course.grade submissions/         # gradebook, LMS CSV, feedback files

`source` reads the percent-format notebook sources (notebooks/README.md) and `release` builds
what students get. The grader is two programs with a narrow channel between them (DESIGN.md):
`judge` (the instructor's process: hidden inputs, references, verdicts) and `runner` (a
standalone script that executes one submission inside the `sandbox` and replies with arrays
over the `channel`); `submissions` finds who handed in what, `gradebook` writes the results,
`similarity` lists who shares code, and `grade` is the command that ties them together.
"""
