"""Pictures that show what the numbers mean, made while a run streams, in bounded memory: temporal profiles
(:mod:`.profiles`), worst moments (:mod:`.moments`), their files and report section (:mod:`.store`), and the
side-by-side page of several runs (:mod:`.compare`)."""
