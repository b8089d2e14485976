"""The instructor's kit: the notebooks' source format, the student release and the grader.

    python -m numpyvae.course.release --out release      # the exercise notebooks, no solution
    python -m numpyvae.course.grade submissions/         # a CSV gradebook of the submissions

`source` reads the percent-format notebook sources (notebooks/README.md), `release` builds what
students get, `grade` grades what they hand in, `guard` keeps a submission from calling the
library's own gradients while it is graded.
"""
