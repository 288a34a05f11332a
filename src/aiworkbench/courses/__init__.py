"""Skills tutorials: course folders (:mod:`.course`), each
student's own copy updated without losing their edits (:mod:`.sync`), exercises
that check themselves (:mod:`.exercise`) and the progress the API keeps
(:mod:`.progress`)."""
