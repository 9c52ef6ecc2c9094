"""What a run needs besides its maths: devices and precision (:mod:`.devices`), atomic files and
weights with their sha256 (:mod:`.files`), checkpoints (:mod:`.checkpoint`), Ctrl-C as a stop
request (:mod:`.interrupt`) and torchrun (:mod:`.distributed`). Import the module you need."""
