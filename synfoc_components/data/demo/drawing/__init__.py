"""Drawing helpers of the demo phantoms: shapes and noise, the cardiac MRI phantom and its cine phenomena, breast
ultrasound tissue and scanner marks."""
